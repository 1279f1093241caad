"""finlab: a lab for anti-money-laundering research on synthetic payment data."""

from __future__ import annotations

__version__ = "0.1.0"

from finlab import explain
from finlab.io import load, save
from finlab.schema import Dataset, Labels

__all__ = ["Dataset", "Labels", "__version__", "explain", "load", "save"]
