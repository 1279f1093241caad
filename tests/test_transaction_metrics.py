"""Transaction-level metrics (payments ranked by the higher score of payer and payee) and the
data notes (features a dataset cannot feed), checked by hand against scikit-learn and on a
generated world against one with its references blanked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from finlab.evaluate.data_notes import data_notes
from finlab.evaluate.metrics import period_transactions, transaction_metrics, transaction_scores


@pytest.fixture
def payments():
    """Five accounts (10..14, 14 unscored) and six payments between them."""
    scores = pd.Series([0.9, 0.2, 0.5, 0.1], index=[10, 11, 12, 13])
    txns = pd.DataFrame({
        "txn_id": [1, 2, 3, 4, 5, 6],
        "src_account": [11, 13, 12, 13, 14, 11],
        "dst_account": [13, 10, 13, 14, 13, 12],
        "is_suspicious": [False, True, True, False, True, False],
        "typology": ["decoy:payroll", "cycle", "fan_in", "", "fan_in", "decoy:payroll"],
    })
    return scores, txns


def test_account_scores_rank_payments_by_the_higher_end(payments):
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, txns = payments
    # max(src, dst) by hand; account 14 has no score and counts as the minimum, 0.1
    by_hand = np.array([max(0.2, 0.1), max(0.1, 0.9), max(0.5, 0.1), max(0.1, 0.1),
                        max(0.1, 0.1), max(0.2, 0.5)])
    np.testing.assert_allclose(transaction_scores(scores, txns), by_hand)
    y = txns["is_suspicious"].to_numpy()
    m = transaction_metrics(scores, txns, pd.Index([10, 11, 12, 13, 14]), budget=1)
    assert m["average_precision"] == pytest.approx(average_precision_score(y, by_hand))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, by_hand))
    assert (m["positives"], m["negatives"]) == (3, 3)
    # the account budget alerts account 10 alone; it takes part in payment 2 only
    assert m["budget"] == 1
    assert m["precision_at_budget"] == 1.0
    assert m["recall_at_budget"] == pytest.approx(1 / 3)
    assert m["by_typology"] == {"cycle": 1.0, "fan_in": 0.0}
    assert m["decoy_false_positive_rate"] == {"payroll": 0.0}


def test_budget_is_the_payments_of_the_alerted_accounts(payments):
    scores, txns = payments
    m = transaction_metrics(scores, txns, pd.Index([10, 11, 12, 13, 14]), budget=2,
                            threshold=0.5)
    # accounts 10 and 12 are alerted: payments 2, 3 and 6 are theirs, and rank on top
    assert m["budget"] == 3
    assert m["precision_at_budget"] == pytest.approx(2 / 3)
    assert m["recall_at_budget"] == pytest.approx(2 / 3)
    assert m["decoy_false_positive_rate"] == {"payroll": 0.5}
    # F1 at the threshold: payments 2, 3 and 6 reach 0.5
    assert m["f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))


def test_a_transaction_level_detector_keeps_its_own_scores(payments):
    from sklearn.metrics import average_precision_score

    _, txns = payments
    own = pd.Series([0.3, 0.8, 0.1, 0.2, 0.9, 0.4], index=txns["txn_id"])
    np.testing.assert_allclose(transaction_scores(own, txns, "transaction"), own.to_numpy())
    m = transaction_metrics(own, txns, pd.Index([10, 11, 12, 13, 14]), budget=1,
                            level="transaction")
    assert m["average_precision"] == pytest.approx(
        average_precision_score(txns["is_suspicious"], own.to_numpy()))
    # accounts take the best score of their payments: 13 and 14 (0.9) tie, 13 wins on id and
    # takes part in five payments
    assert m["budget"] == 5
    assert m["f1"] is None


def test_period_transactions_take_labels_by_id(tiny_dataset):
    from finlab.evaluate.splits import temporal_split

    split = temporal_split(tiny_dataset)
    txns = period_transactions(tiny_dataset, split.validation_end, split.end)
    tx = tiny_dataset.transactions
    assert len(txns) == ((tx["ts"] >= split.validation_end) & (tx["ts"] < split.end)).sum()
    lt = tiny_dataset.labels.transactions.set_index("txn_id")
    truth = lt["is_suspicious"].reindex(txns["txn_id"]).fillna(False).to_numpy(bool)
    np.testing.assert_array_equal(txns["is_suspicious"].to_numpy(), truth)
    assert not txns.loc[txns["typology"].str.startswith("decoy:"), "is_suspicious"].any()


def test_data_notes_of_a_generated_world_say_nothing_is_missing(tiny_dataset):
    notes = data_notes(tiny_dataset)
    assert notes["source_format"] == "finlab"
    assert notes["missing"] == [] and notes["features_left_out"] == []


def test_data_notes_name_the_cover_word_features_without_references(tiny_dataset):
    from finlab.features import feature_names

    blank = replace(tiny_dataset, transactions=tiny_dataset.transactions.assign(reference=""),
                    manifest={"interop": {"format": "amlsim", "layout": "old",
                                          "missing_fields": ["accounts.opened_at"]}})
    notes = data_notes(blank)
    fields = {m["field"]: m["features"] for m in notes["missing"]}
    cover = [n for n in feature_names() if n.startswith("cover_word_count_")]
    assert cover and fields["transactions.reference"] == cover
    assert fields["accounts.opened_at"] == ["account_age_days"]
    assert len(fields) == 2  # the generated world has every other field
    assert notes["source_format"] == "amlsim"
    assert notes["features_left_out"] == [n for n in feature_names()
                                          if n in {*cover, "account_age_days"}]


def test_data_notes_of_one_country_one_channel_whole_days(tiny_dataset):
    tx = tiny_dataset.transactions
    flat = replace(tiny_dataset, transactions=tx.assign(
        src_country="ZZ", dst_country="ZZ", channel="transfer", ts=tx["ts"].dt.floor("D")))
    fields = {m["field"]: m["features"] for m in data_notes(flat)["missing"]}
    assert "night_share_30d" in fields["transactions.ts (time of day)"]
    assert "card_share_7d" in fields["transactions.channel"]
    assert "cross_border_share_1d" in fields["transactions.src_country / dst_country"]
    assert "high_risk_count_1d" in fields["countries.risk"]

