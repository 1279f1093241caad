"""What kind of account it is and how long it has existed: a facilitator is a person's account,
not a merchant's till, and mules are often new accounts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features.groups import FEATURE_GROUPS
from finlab.features.ledger import DAY, Ledger

PERSONAL_KINDS = ("current", "savings", "wallet")


@FEATURE_GROUPS.register("account")
def account(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    kind = lg.account_kind
    opened = lg.account_opened if lg.account_opened is not None else np.full(kind.size, lg.as_of)
    return {
        "personal_account": np.isin(kind, PERSONAL_KINDS).astype(np.float64),
        "business_account": np.isin(kind, ("business", "merchant")).astype(np.float64),
        "account_age_days": np.maximum(lg.as_of - opened, 0) / DAY,
    }
