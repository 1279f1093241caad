"""Account features "as of" a cutoff: hand-computed values on a tiny hand-made world, no look-ahead
on a generated world, and the public API's names and input checks.

Every expected number below is worked out by hand from the tables built in this file (see the
comments next to each transaction); none is copied from a run of the code.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from finlab.errors import InputError
from finlab.features import (
    FEATURE_GROUPS,
    account_features,
    build_ledger,
    feature_names,
    ledger_features,
)
from finlab.features.ledger import keyword_hits
from finlab.schema import CHANNELS, Dataset

# --------------------------------------------------------------------------------------------
# A tiny hand-made world
# --------------------------------------------------------------------------------------------

T = pd.Timestamp("2025-03-01 00:00:00", tz="UTC")  # the cutoff of the hand-made tests
DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)
SEC = pd.Timedelta(seconds=1)
W = (1, 7, 30)

FX = {"NOK": 0.1, "GBP": 1.2, "PHP": 0.02, "USD": 0.9}  # -> base currency

# accounts (party, bank, country, currency, kind)
ANNA, BEN, CARL, DANA, SHOP, ANNA_SAV, CARL_WALLET = 11, 12, 13, 14, 15, 16, 17
ACCOUNT_ROWS = {
    ANNA: (1, "NOB", "NO", "NOK", "current"),
    BEN: (2, "GBM", "PH", "PHP", "wallet"),  # Anna's relative abroad (same household)
    CARL: (3, "NOB", "NO", "NOK", "current"),
    DANA: (4, "GBM", "GB", "GBP", "current"),
    SHOP: (5, "GBM", "US", "USD", "business"),
    ANNA_SAV: (1, "GBM", "NO", "NOK", "savings"),  # Anna's second account
    CARL_WALLET: (3, "NOB", "NO", "NOK", "wallet"),  # never used
}


def countries() -> pd.DataFrame:
    return pd.DataFrame({
        "country": ["NO", "GB", "PH", "US"],
        "name": ["Norway", "United Kingdom", "Philippines", "United States"],
        "currency": ["NOK", "GBP", "PHP", "USD"],
        "utc_offset": np.array([1.0, 0.0, 8.0, -5.0], np.float32),
        "risk": ["low", "low", "high", "low"],
    })


def banks() -> pd.DataFrame:
    return pd.DataFrame({
        "bank_id": ["NOB", "GBM"],
        "name": ["Nordic Bank", "Global Money"],
        "country": ["NO", "GB"],
        "kind": ["bank", "money_services"],
    })


def parties() -> pd.DataFrame:
    return pd.DataFrame({
        "party_id": np.array([1, 2, 3, 4, 5], np.int64),
        "kind": ["person", "person", "person", "person", "business"],
        "name": ["Anna", "Ben", "Carl", "Dana", "Shop Inc"],
        "country": ["NO", "PH", "NO", "GB", "US"],
        "household_id": np.array([100, 100, 200, 300, 400], np.int64),  # Anna & Ben share one
        "sector": ["household"] * 4 + ["retail"],
    })


def accounts() -> pd.DataFrame:
    ids = sorted(ACCOUNT_ROWS)
    cols = list(zip(*(ACCOUNT_ROWS[i] for i in ids)))
    return pd.DataFrame({
        "account_id": np.array(ids, np.int64),
        "party_id": np.array(cols[0], np.int64),
        "bank_id": list(cols[1]),
        "country": list(cols[2]),
        "currency": list(cols[3]),
        "kind": list(cols[4]),
        "opened_at": pd.to_datetime(["2020-01-01"] * len(ids), utc=True),
    })


def make_dataset(rows) -> Dataset:
    """A Dataset over the fixed accounts above from (ts, src, dst, amount, channel, reference)
    rows; banks, countries, currency and amount_base follow from the accounts (amount is in the
    payer's currency)."""
    rows = sorted(rows, key=lambda r: r[0])
    tx = []
    for i, (ts, src, dst, amount, channel, reference) in enumerate(rows):
        _, sbank, scountry, currency, _ = ACCOUNT_ROWS[src]
        _, dbank, dcountry, _, _ = ACCOUNT_ROWS[dst]
        tx.append({
            "txn_id": 1000 + i, "ts": ts, "src_account": src, "dst_account": dst,
            "src_bank": sbank, "dst_bank": dbank, "src_country": scountry,
            "dst_country": dcountry, "amount": float(amount), "currency": currency,
            "amount_base": float(amount) * FX[currency], "channel": channel,
            "reference": reference,
        })
    transactions = pd.DataFrame(tx)
    transactions["ts"] = pd.to_datetime(transactions["ts"], utc=True)
    for col in ("txn_id", "src_account", "dst_account"):
        transactions[col] = transactions[col].astype(np.int64)
    return Dataset(countries=countries(), banks=banks(), parties=parties(), accounts=accounts(),
                   transactions=transactions)


# The main hand-made ledger. Times are relative to T (2025-03-01 00:00 UTC). NO is UTC+1,
# PH is UTC+8 (and rated high risk). amount_base = amount * FX[payer currency].
MAIN_ROWS = [
    # o1: just outside the 30d window (T - 30d - 1s). base 100
    (T - 30 * DAY - SEC, ANNA, CARL, 1000, "transfer", "rent"),
    # o2: exactly on the 30d boundary (counts). base 200; 00:00 UTC = 01:00 in NO -> night
    (T - 30 * DAY, ANNA, CARL, 2000, "transfer", "Birthday gift"),
    # o3: Feb 22 21:30 UTC = 22:30 in NO -> night (only in local time). base 500, to PH (high risk)
    (T - 6 * DAY - 2.5 * HOUR, ANNA, BEN, 5000, "remittance", "Family support"),
    # i1: base 30
    (T - 5 * DAY, ANNA_SAV, DANA, 300, "transfer", "rent"),
    # p1: exactly 2 days after Ben received o3 -> passed through. base 200;
    #     Feb 24 21:30 UTC = 05:30 in PH -> night
    (T - 4 * DAY - 2.5 * HOUR, BEN, ANNA_SAV, 10000, "remittance", "school fees"),
    # i2: base 40
    (T - 4 * DAY, CARL, DANA, 400, "transfer", ""),
    # o4: Feb 26 12:00 UTC = 13:00 in NO. base 12.345; "giftcard" is not the word "gift"
    (T - 3 * DAY + 12 * HOUR, ANNA, DANA, 123.45, "card", "giftcard"),
    # i3: base 90
    (T - 2 * DAY, SHOP, DANA, 100, "transfer", "services"),
    # p2: Feb 28 14:00 UTC = 22:00 in PH -> night; > 2 days after Ben's last income. base 100
    (T - 10 * HOUR, BEN, CARL, 5000, "transfer", "loan"),
    # o5: Feb 28 12:00 UTC = 13:00 in NO. base 12 (local 120 is even, base 12 is not)
    (T - 12 * HOUR, ANNA, SHOP, 120, "p2p_app", "Invoice 42"),
    # the future, seen from T: exactly at the cutoff and after it -> never counted
    (T, ANNA, CARL, 9999, "crypto", "gift"),
    (T, DANA, ANNA, 7777, "cash", ""),
    (T + DAY, ANNA, BEN, 5555, "crypto", "gift"),
]


@pytest.fixture(scope="module")
def main_ds() -> Dataset:
    return make_dataset(MAIN_ROWS)


@pytest.fixture(scope="module")
def feats(main_ds) -> pd.DataFrame:
    return account_features(main_ds, as_of=T, windows=W)


def test_hand_made_dataset_is_sound(main_ds):
    assert main_ds.validate() == []


def test_index_is_every_account(feats):
    assert feats.index.name == "account_id"
    assert list(feats.index) == sorted(ACCOUNT_ROWS)
    assert (feats.dtypes == np.float64).all()
    # an account without any payment has zero activity
    unused = feats.loc[CARL_WALLET]
    for name in ("out_count_30d", "in_count_30d", "out_sum_30d", "in_sum_30d", "cycles_2_30d",
                 "out_distinct_30d", "in_distinct_30d", "pass_through_share_30d"):
        assert unused[name] == 0.0


# --------------------------------------------------------------------------------------------
# activity
# --------------------------------------------------------------------------------------------


def test_counts_and_sums_per_window(feats):
    a = feats.loc[ANNA]
    # 30d: o2 (boundary, in), o3, o4, o5; o1 (1 s before the boundary) and the rows at/after T out
    assert a["out_count_30d"] == 4
    assert a["out_sum_30d"] == pytest.approx(200 + 500 + 12.345 + 12)
    assert a["out_max_30d"] == pytest.approx(500)
    assert a["out_mean_30d"] == pytest.approx((200 + 500 + 12.345 + 12) / 4)
    # 7d: o3, o4, o5
    assert a["out_count_7d"] == 3
    assert a["out_sum_7d"] == pytest.approx(500 + 12.345 + 12)
    assert a["out_max_7d"] == pytest.approx(500)
    # 1d: o5 only
    assert a["out_count_1d"] == 1
    assert a["out_sum_1d"] == pytest.approx(12)
    assert a["out_max_1d"] == pytest.approx(12)
    # nothing reached Anna's current account before T (Dana's payment is exactly at T)
    assert a["in_count_30d"] == 0
    assert a["in_sum_30d"] == 0

    d = feats.loc[DANA]
    assert d["in_count_30d"] == 4
    assert d["in_sum_30d"] == pytest.approx(30 + 40 + 12.345 + 90)
    assert d["in_max_30d"] == pytest.approx(90)
    assert d["in_count_1d"] == 0
    assert d["out_count_30d"] == 0  # her payment at T is the future

    c = feats.loc[CARL]
    # Carl received o1 (outside), o2 (on the boundary) and p2
    assert c["in_count_30d"] == 2
    assert c["in_sum_30d"] == pytest.approx(200 + 100)
    assert c["in_max_30d"] == pytest.approx(200)
    assert c["in_sum_1d"] == pytest.approx(100)


def test_window_boundary_is_inclusive_and_one_second_earlier_is_not(main_ds):
    # move the cutoff one second later: o2 falls out of the 30d window, o1 stays out, and the
    # payment made exactly at T (9999 NOK, base 999.9) is now in the past
    later = account_features(main_ds, as_of=T + SEC, windows=(30,), groups=["activity"])
    assert later.loc[ANNA, "out_count_30d"] == 4
    assert later.loc[ANNA, "out_sum_30d"] == pytest.approx(500 + 12.345 + 12 + 999.9)
    # one second earlier: o1 is on the boundary now and counts, o2 too
    earlier = account_features(main_ds, as_of=T - SEC, windows=(30,), groups=["activity"])
    assert earlier.loc[ANNA, "out_count_30d"] == 5
    assert earlier.loc[ANNA, "out_sum_30d"] == pytest.approx(100 + 200 + 500 + 12.345 + 12)


def test_night_share_uses_payer_local_time(feats):
    a = feats.loc[ANNA]
    # local hours (UTC+1): o2 01:00 night, o3 22:30 night, o4 13:00, o5 13:00
    # (in UTC o3 would be 21:30, not night: 30d would be 1/4 and 7d 0)
    assert a["night_share_30d"] == pytest.approx(2 / 4)
    assert a["night_share_7d"] == pytest.approx(1 / 3)
    assert a["night_share_1d"] == 0
    # Ben (UTC+8): p1 05:30 and p2 22:00 are both night locally, neither is in UTC
    b = feats.loc[BEN]
    assert b["night_share_30d"] == pytest.approx(1.0)
    assert b["night_share_1d"] == pytest.approx(1.0)


def test_ledger_local_hour(main_ds):
    lg = build_ledger(main_ds, T)
    assert lg.t.size == 10  # every row before T (the window only applies to the features)
    assert np.all(np.diff(lg.t) >= 0)
    hours = dict(zip(map(int, lg.t), map(float, lg.local_hour)))
    o3 = int((T - 6 * DAY - 2.5 * HOUR).value // 10**9)
    p2 = int((T - 10 * HOUR).value // 10**9)
    assert hours[o3] == pytest.approx(22.5)
    assert hours[p2] == pytest.approx(22.0)


def test_corridor_shares(feats):
    a = feats.loc[ANNA]
    # o2 NO->NO, o3 NO->PH, o4 NO->GB, o5 NO->US
    assert a["cross_border_share_30d"] == pytest.approx(3 / 4)
    assert a["cross_border_share_7d"] == pytest.approx(1.0)
    # only PH is high risk
    assert a["high_risk_count_30d"] == 1
    assert a["high_risk_count_1d"] == 0
    assert a["high_risk_sum_30d"] == pytest.approx(500)
    assert a["high_risk_max_30d"] == pytest.approx(500)
    assert a["high_risk_share_7d"] == pytest.approx(1 / 3)
    # Ben pays *from* the high-risk country into NO: the payee's country is what counts
    assert feats.loc[BEN, "high_risk_count_30d"] == 0
    assert feats.loc[BEN, "cross_border_share_30d"] == pytest.approx(1.0)
    # Dana received four cross-border payments
    assert feats.loc[DANA, "in_cross_border_share_30d"] == pytest.approx(1.0)
    assert feats.loc[CARL, "in_cross_border_share_30d"] == pytest.approx(1 / 2)  # o2 NO, p2 PH


def test_even_and_small_shares(feats):
    a = feats.loc[ANNA]
    # even = whole and a multiple of 5 in the payment currency: 2000, 5000, 120 yes; 123.45 no
    # (in base currency 200, 500 yes; 12.345, 12 no -> would be 2/4)
    assert a["even_share_30d"] == pytest.approx(3 / 4)
    assert a["even_share_7d"] == pytest.approx(2 / 3)
    # small = base amount <= 200: 200 (at the limit), 12.345, 12 yes; 500 no
    assert a["small_share_30d"] == pytest.approx(3 / 4)
    assert a["small_share_7d"] == pytest.approx(2 / 3)
    assert a["small_share_1d"] == pytest.approx(1.0)
    # Ben: 10000 PHP (base 200) and 5000 PHP (base 100): even and small
    assert feats.loc[BEN, "even_share_30d"] == pytest.approx(1.0)
    assert feats.loc[BEN, "small_share_30d"] == pytest.approx(1.0)
    assert a["below_threshold_count_30d"] == 0


def test_cover_words(feats):
    a = feats.loc[ANNA]
    # "Birthday gift" (o2), "Family support" (o3), "Invoice 42" (o5) yes; "giftcard" (o4) no
    assert a["cover_word_count_30d"] == 3
    assert a["cover_word_count_7d"] == 2
    assert a["cover_word_count_1d"] == 1
    assert feats.loc[BEN, "cover_word_count_30d"] == 1  # "school fees"; "loan" is not one
    assert feats.loc[CARL, "cover_word_count_30d"] == 0  # empty reference


def test_keyword_hits_whole_words_case_insensitive():
    refs = pd.Series(["Birthday gift", "giftcard", "GIFT", "family   support", "familysupport",
                      "regifted", "regift", "for school", ""])
    assert list(keyword_hits(refs)) == [True, False, True, True, False, False, False, True, False]
    # categorical input (as read from Parquet) and missing values
    cat = pd.Series(["a gift", None, "gifts", "a gift"], dtype="category")
    assert list(keyword_hits(cat)) == [True, False, False, True]


def test_channel_shares(feats):
    a = feats.loc[ANNA]
    for name in ("transfer", "remittance", "card", "p2p_app"):
        assert a[f"{name}_share_30d"] == pytest.approx(1 / 4)
    assert a["crypto_share_30d"] == 0 and a["cash_share_30d"] == 0
    assert a["transfer_share_7d"] == 0
    assert a["remittance_share_7d"] == pytest.approx(1 / 3)
    assert a["p2p_app_share_1d"] == pytest.approx(1.0)
    assert sum(a[f"{c}_share_30d"] for c in CHANNELS) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# counterparties
# --------------------------------------------------------------------------------------------


def test_distinct_new_and_unrelated_payees(feats):
    a = feats.loc[ANNA]
    # 30d payees: Carl (first paid at o1, before the window -> not new), Ben, Dana, Shop
    assert a["out_distinct_30d"] == 4
    assert a["out_new_30d"] == 3
    # Ben shares Anna's household: not unrelated
    assert a["out_unrelated_30d"] == 3
    assert a["out_distinct_7d"] == 3  # Ben, Dana, Shop
    assert a["out_new_7d"] == 3
    assert a["out_unrelated_7d"] == 2  # Dana, Shop
    assert a["out_distinct_1d"] == 1 and a["out_new_1d"] == 1 and a["out_unrelated_1d"] == 1
    # Ben is in a high-risk country but family: no unrelated high-risk payee
    assert a["high_risk_unrelated_30d"] == 0


def test_fan_in_of_unrelated_senders(feats):
    d = feats.loc[DANA]
    # senders: Anna (NOB, hh 100), Anna's savings (GBM, hh 100), Carl (NOB, hh 200),
    # Shop (GBM, hh 400): four accounts, three households, two banks, two countries
    assert d["in_distinct_30d"] == 4
    assert d["in_new_30d"] == 4
    assert d["in_unrelated_households_30d"] == 3
    assert d["in_banks_30d"] == 2
    assert d["in_countries_30d"] == 2
    assert d["in_distinct_1d"] == 0 and d["in_banks_1d"] == 0

    c = feats.loc[CARL]
    # Anna (first paid him before the window) and Ben: both of household 100, both unrelated
    assert c["in_distinct_30d"] == 2
    assert c["in_new_30d"] == 1
    assert c["in_unrelated_households_30d"] == 1
    assert c["in_banks_30d"] == 2  # NOB, GBM
    assert c["in_countries_30d"] == 2  # NO, PH

    # Anna's savings account is paid only by Ben, who is family: no unrelated household
    s = feats.loc[ANNA_SAV]
    assert s["in_distinct_30d"] == 1
    assert s["in_unrelated_households_30d"] == 0


# --------------------------------------------------------------------------------------------
# temporal
# --------------------------------------------------------------------------------------------


def test_pass_through_and_flow_ratio(feats):
    b = feats.loc[BEN]
    # Ben got 500 (o3); paid p1 = 200 exactly 2 days later (passed) and p2 = 100 after 5.7 days
    assert b["pass_through_share_30d"] == pytest.approx(200 / 300)
    assert b["pass_through_share_7d"] == pytest.approx(200 / 300)
    assert b["pass_through_share_1d"] == 0  # p2 only
    assert b["flow_ratio_30d"] == pytest.approx(300 / 500)
    assert b["flow_ratio_1d"] == 0  # out 100, in 0

    s = feats.loc[ANNA_SAV]
    # paid out i1 (30) before receiving p1 (200): nothing passed through
    assert s["pass_through_share_30d"] == 0
    assert s["flow_ratio_30d"] == pytest.approx(30 / 200)

    c = feats.loc[CARL]
    # paid i2 (40) 26 days after receiving o2
    assert c["pass_through_share_30d"] == 0
    assert c["flow_ratio_30d"] == pytest.approx(40 / 300)
    assert feats.loc[ANNA, "flow_ratio_30d"] == 0  # no income


def test_pass_through_just_over_two_days():
    rows = [
        (T - 10 * DAY, CARL, DANA, 1000, "transfer", ""),  # Dana gets 1200 base
        (T - 8 * DAY + SEC, DANA, SHOP, 100, "transfer", ""),  # 2 days + 1 s later: not passed
        (T - 5 * DAY, CARL, DANA, 1000, "transfer", ""),
        (T - 5 * DAY, DANA, SHOP, 50, "transfer", ""),  # same second as the income: not after it
        (T - 4 * DAY, DANA, SHOP, 25, "transfer", ""),  # 1 day after: passed (base 30)
    ]
    f = account_features(make_dataset(rows), as_of=T, windows=(30,), groups=["temporal"])
    assert f.loc[DANA, "pass_through_share_30d"] == pytest.approx(30 / (120 + 60 + 30))


def temporal_rows(amounts_a, amounts_b):
    """Anna pays Carl every 2 days (T-10d .. T-2d); Dana pays Shop at T-9d, T-8d, T-5d."""
    rows = [(T - (10 - 2 * i) * DAY, ANNA, CARL, a, "transfer", "")
            for i, a in enumerate(amounts_a)]
    rows += [(T - d * DAY, DANA, SHOP, b, "card", "") for d, b in zip((9, 8, 5), amounts_b)]
    return rows


def test_escalation_sign_and_gap_regularity():
    ds = make_dataset(temporal_rows([100, 200, 300, 400, 500], [300, 200, 100]))
    f = account_features(ds, as_of=T, windows=W)
    # rising amounts: Spearman +1; falling: -1
    assert f.loc[ANNA, "out_escalation_30d"] == pytest.approx(1.0)
    assert f.loc[DANA, "out_escalation_30d"] == pytest.approx(-1.0)
    # Anna's gaps 2, 2, 2, 2 days: cv 0; Dana's gaps 1 and 3 days: std 1 / mean 2
    assert f.loc[ANNA, "out_gap_cv_30d"] == pytest.approx(0.0, abs=1e-9)
    assert f.loc[DANA, "out_gap_cv_30d"] == pytest.approx(0.5)
    # GB -> US is cross-border, NO -> NO is not
    assert f.loc[DANA, "cross_border_escalation_30d"] == pytest.approx(-1.0)
    assert f.loc[DANA, "cross_border_gap_cv_30d"] == pytest.approx(0.5)
    assert f.loc[ANNA, "cross_border_escalation_30d"] == 0
    # fewer than 3 payments: no escalation, fewer than 2 gaps: no cv
    assert f.loc[CARL, "out_escalation_30d"] == 0
    assert f.loc[CARL, "out_gap_cv_30d"] == 0


def test_escalation_is_spearman():
    # ranks of 100, 300, 200, 400, 500 against time: d = 0, 1, -1, 0, 0 ->
    # rho = 1 - 6 * 2 / (5 * 24) = 0.9
    ds = make_dataset(temporal_rows([100, 300, 200, 400, 500], [300, 200, 100]))
    f = account_features(ds, as_of=T, windows=(30,), groups=["temporal"])
    assert f.loc[ANNA, "out_escalation_30d"] == pytest.approx(0.9)
    # the timing features only look at the longest window
    f7 = account_features(ds, as_of=T, windows=(7,), groups=["temporal"])
    # last 7 days: T-6d (200), T-4d (400), T-2d (500): rising
    assert f7.loc[ANNA, "out_escalation_7d"] == pytest.approx(1.0)
    assert f7.loc[DANA, "out_escalation_7d"] == 0  # one payment left


def test_constant_amounts_do_not_escalate():
    ds = make_dataset(temporal_rows([100, 100, 100, 100, 100], [300, 200, 100]))
    f = account_features(ds, as_of=T, windows=(30,), groups=["temporal"])
    assert f.loc[ANNA, "out_escalation_30d"] == 0


def test_regular_gaps_have_no_trend():
    ds = make_dataset(temporal_rows([100, 200, 300, 400, 500], [300, 200, 100]))
    f = account_features(ds, as_of=T, windows=(30,), groups=["temporal"])
    assert f.loc[ANNA, "out_gap_trend_30d"] == 0


# --------------------------------------------------------------------------------------------
# graph
# --------------------------------------------------------------------------------------------


def cycle_rows():
    return [
        # reciprocal pair Anna <-> Carl (two parallel payments one way, one back 20 days ago)
        (T - 20 * DAY, CARL, ANNA, 50, "transfer", ""),
        (T - 5 * DAY, ANNA, CARL, 10, "transfer", ""),
        (T - 4 * DAY, ANNA, CARL, 20, "transfer", ""),
        # 3-cycle Ben -> Dana -> Shop -> Ben
        (T - 3 * DAY, BEN, DANA, 1000, "transfer", ""),
        (T - 2 * DAY, DANA, SHOP, 10, "transfer", ""),
        (T - 1 * DAY, SHOP, BEN, 10, "transfer", ""),
        # a one-way edge into the triangle adds no cycle
        (T - 1 * DAY, ANNA_SAV, DANA, 10, "transfer", ""),
    ]


def test_short_cycles():
    f = account_features(make_dataset(cycle_rows()), as_of=T, windows=(7, 30))
    two, three = f["cycles_2_30d"], f["cycles_3_30d"]
    assert two.to_dict() == {ANNA: 1, BEN: 0, CARL: 1, DANA: 0, SHOP: 0, ANNA_SAV: 0,
                             CARL_WALLET: 0}
    assert three.to_dict() == {ANNA: 0, BEN: 1, CARL: 0, DANA: 1, SHOP: 1, ANNA_SAV: 0,
                               CARL_WALLET: 0}
    # through flow = min(in, out) over the longest window: Anna in 5, out 3 (base)
    assert f.loc[ANNA, "through_flow_30d"] == pytest.approx(min(50 * 0.1, 30 * 0.1))
    assert f.loc[ANNA_SAV, "through_flow_30d"] == 0


def test_graph_uses_longest_window_only():
    # with 7 days as the longest window Carl's payment back (20 days ago) is out of the graph
    f = account_features(make_dataset(cycle_rows()), as_of=T, windows=(1, 7), groups=["graph"])
    assert set(f.columns) == {"cycles_2_7d", "cycles_3_7d", "pagerank_7d", "through_flow_7d"}
    assert f.loc[ANNA, "cycles_2_7d"] == 0 and f.loc[CARL, "cycles_2_7d"] == 0
    assert f.loc[BEN, "cycles_3_7d"] == 1
    # pagerank is scaled so that the average account is 1
    assert f["pagerank_7d"].mean() == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# no look-ahead
# --------------------------------------------------------------------------------------------


def test_hand_made_future_and_cutoff_rows_are_ignored(main_ds, feats):
    past_only = dataclasses.replace(
        main_ds, transactions=main_ds.transactions[main_ds.transactions["ts"] < T])
    assert len(past_only.transactions) == len(main_ds.transactions) - 3
    pd.testing.assert_frame_equal(account_features(past_only, as_of=T, windows=W), feats)


def test_row_order_does_not_matter_hand_made(main_ds, feats):
    tx = main_ds.transactions.sample(frac=1.0, random_state=3)
    shuffled = dataclasses.replace(main_ds, transactions=tx)
    pd.testing.assert_frame_equal(account_features(shuffled, as_of=T, windows=W), feats)


def _cutoff(ds: Dataset) -> pd.Timestamp:
    """The time of a transaction in the middle of the generated period."""
    tx = ds.transactions
    mid = tx["ts"].min() + (tx["ts"].max() - tx["ts"].min()) / 2
    return tx.loc[tx["ts"] >= mid, "ts"].min()


def test_no_look_ahead(tiny_dataset):
    ds = tiny_dataset.without_labels()
    tx = ds.transactions
    cutoff = _cutoff(ds)
    assert (tx["ts"] == cutoff).any() and (tx["ts"] < cutoff).any() and (tx["ts"] > cutoff).any()
    before = account_features(ds, as_of=cutoff)

    # copies of past rows moved into the future: some exactly at the cutoff, the rest after it
    rng = np.random.default_rng(0)
    past = tx[tx["ts"] < cutoff]
    future = past.sample(n=min(2000, len(past)), random_state=0).copy()
    shift = rng.integers(0, 5 * 86_400, size=len(future))
    shift[:300] = 0
    future["ts"] = cutoff + pd.to_timedelta(shift, unit="s")
    future["txn_id"] = tx["txn_id"].max() + 1 + np.arange(len(future), dtype=np.int64)
    augmented_tx = pd.concat([tx, future], ignore_index=True).sort_values("ts", kind="stable")
    augmented = dataclasses.replace(ds, transactions=augmented_tx.reset_index(drop=True))

    after = account_features(augmented, as_of=cutoff)
    pd.testing.assert_frame_equal(before, after, check_exact=True)

    # the appended rows are not inert: a day later they do change the features
    later_orig = account_features(ds, as_of=cutoff + DAY)
    later_aug = account_features(augmented, as_of=cutoff + DAY)
    assert not later_orig.equals(later_aug)


def test_rows_at_exactly_the_cutoff_are_excluded(tiny_dataset):
    ds = tiny_dataset.without_labels()
    tx = ds.transactions
    cutoff = _cutoff(ds)
    at = tx[tx["ts"] == cutoff]
    base = account_features(ds, as_of=cutoff, windows=W)

    strictly_before = dataclasses.replace(ds, transactions=tx[tx["ts"] < cutoff])
    pd.testing.assert_frame_equal(
        account_features(strictly_before, as_of=cutoff, windows=W), base, check_exact=True)

    lg = build_ledger(ds, cutoff)
    assert lg.t.size == int((tx["ts"] < cutoff).sum())
    assert lg.t.max() < cutoff.value // 10**9

    # one second later the rows at the cutoff count
    plus = account_features(ds, as_of=cutoff + SEC, windows=W)
    added = at["src_account"].value_counts()
    for account, n in added.items():
        assert plus.loc[account, "out_count_1d"] - base.loc[account, "out_count_1d"] == n


def test_row_order_does_not_matter(tiny_dataset):
    ds = tiny_dataset.without_labels()
    cutoff = _cutoff(ds)
    base = account_features(ds, as_of=cutoff)
    shuffled_tx = ds.transactions.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled = account_features(dataclasses.replace(ds, transactions=shuffled_tx), as_of=cutoff)
    pd.testing.assert_frame_equal(base, shuffled)


# --------------------------------------------------------------------------------------------
# API: names, groups, windows
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("windows", [(1, 7, 30, 90), (30,), (7, 1), (3, 3, 14)])
def test_feature_names_match_columns(main_ds, windows):
    names = feature_names(windows)
    cols = list(account_features(main_ds, as_of=T, windows=windows).columns)
    assert names == cols
    assert len(set(names)) == len(names)
    longest = max(windows)
    assert f"cycles_2_{longest}d" in names and f"out_escalation_{longest}d" in names
    for w in set(windows):
        assert f"out_count_{w}d" in names


def test_feature_names_per_group(main_ds):
    assert set(FEATURE_GROUPS.names()) >= {"activity", "counterparties", "temporal", "graph"}
    everything = set(feature_names(W))
    union = set()
    for group in FEATURE_GROUPS.names():
        names = feature_names(W, groups=[group])
        assert names == list(account_features(main_ds, as_of=T, windows=W, groups=[group]).columns)
        union |= set(names)
    assert union == everything


def test_ledger_features_matches_account_features(main_ds, feats):
    pd.testing.assert_frame_equal(ledger_features(build_ledger(main_ds, T), W), feats)


def test_unknown_group_raises(main_ds):
    with pytest.raises(InputError, match="no_such_group"):
        account_features(main_ds, as_of=T, windows=W, groups=["activity", "no_such_group"])
    with pytest.raises(InputError):
        feature_names(W, groups=["no_such_group"])


@pytest.mark.parametrize("windows", [(0,), (0, 7), (7, 0, 30), (-1, 7), ()])
def test_bad_windows_raise(main_ds, windows):
    with pytest.raises(InputError):
        account_features(main_ds, as_of=T, windows=windows)
    with pytest.raises(InputError):
        feature_names(windows)


def test_unknown_account_in_transactions_raises(main_ds):
    tx = main_ds.transactions.copy()
    tx.loc[tx.index[0], "dst_account"] = 999
    with pytest.raises(InputError, match="dst_account"):
        build_ledger(dataclasses.replace(main_ds, transactions=tx), T)


def test_simultaneous_payments_order_independent():
    rows = [(T - 3 * DAY, ANNA, CARL, 100, "transfer", ""),
            (T - 2 * DAY, ANNA, CARL, 200, "transfer", ""),
            (T - 2 * DAY, ANNA, DANA, 300, "transfer", "")]
    ds = make_dataset(rows)
    swapped = dataclasses.replace(ds, transactions=ds.transactions.iloc[[0, 2, 1]])
    a = account_features(ds, as_of=T, windows=(30,), groups=["temporal"])
    b = account_features(swapped, as_of=T, windows=(30,), groups=["temporal"])
    pd.testing.assert_frame_equal(a, b)


def test_sub_second_cutoff_keeps_earlier_second():
    ds = make_dataset([(T - SEC, ANNA, CARL, 100, "transfer", "")])
    f = account_features(ds, as_of=T - 0.5 * SEC, windows=(1,), groups=["activity"])
    assert f.loc[ANNA, "out_count_1d"] == 1
