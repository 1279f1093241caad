"""Honest evaluation: temporal splits, metrics on the test period only, reports and tracking."""
