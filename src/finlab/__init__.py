"""finlab: a lab for anti-money-laundering research on synthetic payment data."""

from __future__ import annotations

__version__ = "0.1.0"

from finlab import explain  # noqa: E402  (a callable module: finlab.explain(...))
from finlab.io import load, save  # noqa: E402
from finlab.schema import Dataset, Labels  # noqa: E402

__all__ = ["Dataset", "Labels", "__version__", "explain", "load", "save"]
