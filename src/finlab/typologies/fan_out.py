"""Fan-out: one account pays many accounts within a few days (AMLSim fan_out, AMLworld FAN-OUT)."""

from __future__ import annotations

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import Star


@TYPOLOGIES.register("fan_out")
class FanOut(Star):
    """One account spreads money over many accounts within a few days."""

    inward = False
