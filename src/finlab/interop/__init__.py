"""Readers and writers of other AML datasets' formats (IBM AMLworld, AMLSim, PaySim, SAML-D)."""
