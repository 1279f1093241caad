"""Ordinary behaviour plugins, one file each, registered by name in BEHAVIOURS."""

from finlab.world.behaviours import (  # noqa: F401  (plugins register on import)
    b2b,
    card_spending,
    cash,
    charity,
    crypto,
    gaming,
    p2p,
    remittance,
    rent_bills,
    salary,
    subscriptions,
    travel,
)
from finlab.world.behaviours.base import BEHAVIOURS, Behaviour

__all__ = ["BEHAVIOURS", "Behaviour"]
