"""finlab: a lab for anti-money-laundering research on synthetic payment data."""

from __future__ import annotations

from finlab import explain
from finlab.io import load, save
from finlab.schema import Dataset, Labels
from finlab.version import __version__

__all__ = ["Dataset", "Labels", "__version__", "explain", "load", "save"]
