"""Typology library: suspicious payment patterns and benign look-alikes, one plugin per file."""

from finlab.typologies import (  # noqa: F401  (plugins register on import)
    bipartite,
    cash_businesses,
    cycle,
    fan_in,
    fan_out,
    gather_scatter,
    layering_chain,
    marketplace_sellers,
    mule_passthrough,
    ocse_payments,
    romance_victims,
    round_tripping,
    scatter_gather,
    sextortion_payments,
    stack,
    structuring,
)
from finlab.typologies.base import TYPOLOGIES, Cases, Roles, Typology

__all__ = ["TYPOLOGIES", "Cases", "Roles", "Typology"]
