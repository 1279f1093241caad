"""Typology library: suspicious payment patterns and benign look-alikes, one plugin per file."""

from finlab.typologies.base import TYPOLOGIES, Cases, Roles, Typology
from finlab.typologies import ocse_payments  # noqa: F401  (plugins register on import)

__all__ = ["TYPOLOGIES", "Cases", "Roles", "Typology"]
