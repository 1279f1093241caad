"""The registry of feature groups: plain functions `group(ledger, windows) -> {name: array per
account}`, each registered by name from its own module."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from finlab.features.ledger import Ledger
from finlab.registry import Registry

FeatureGroup = Callable[[Ledger, Sequence[int]], dict[str, np.ndarray]]
FEATURE_GROUPS: Registry[FeatureGroup] = Registry("feature group")
