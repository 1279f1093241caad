"""Readers and writers of other AML datasets' formats (IBM AMLworld, AMLSim, PaySim, SAML-D).

Importing the package registers every format; `import_dataset` and `export_dataset` drive them.
"""

from finlab.interop import amlsim, amlworld, paysim, samld  # noqa: F401  (formats register)
from finlab.interop.exporter import export_dataset
from finlab.interop.formats import UNIT_SECONDS, format_names, get_format
from finlab.interop.importer import ImportOptions, import_dataset

__all__ = ["UNIT_SECONDS", "ImportOptions", "export_dataset", "format_names", "get_format",
           "import_dataset"]
