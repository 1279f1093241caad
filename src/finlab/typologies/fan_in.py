"""Fan-in: many accounts pay one account within a few days (AMLSim fan_in, AMLworld FAN-IN)."""

from __future__ import annotations

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import Star


@TYPOLOGIES.register("fan_in")
class FanIn(Star):
    """Many accounts pay one collecting account within a few days."""

    inward = True
