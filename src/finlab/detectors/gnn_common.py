"""What the two graph neural network detectors share: parameters, the temporal split inside
`fit`, scoring on the graph of the scored data, gradient explanations and the saved model.

Inside `fit`, the labelled data is cut in time: the network trains on payments before the cut
(the training graph only) and is judged on payments after it, on the graph of all payments up
to the end (train+validation), which picks the epoch and the threshold. With `refit` (the
default), a fresh network then trains that many epochs on the whole period, and its threshold
flags the share of validation payments the validated network flagged. `score` builds the graph
of the data it is given (for the test period: every payment up to the test end) and scores every
payment (or account) of it; it never reads labels. torch is imported only here, when a GNN is
fitted or used, and only if the `gnn` extra is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import Detector, cached, explanation, require_labels
from finlab.detectors.payment_common import features_of
from finlab.errors import InputError
from finlab.features.payments import DEFAULT_HORIZON
from finlab.gnn.graph import build_graph, node_index
from finlab.registry import StrictModel
from finlab.schema import Dataset, Labels


class GNNParams(StrictModel):
    hidden: int = Field(32, ge=4, le=512, description="width of node and edge states")
    layers: int = Field(2, ge=1, le=4, description="rounds of message passing")
    fanouts: tuple[int, ...] = Field(
        (10, 5), min_length=1, max_length=4,
        description="edges sampled per node at each hop (bounds memory per batch)")
    epochs: int = Field(12, ge=1, le=200, description="passes over a fresh draw of seeds; "
                        "the epoch with the best validation AP is kept")
    batch_size: int = Field(512, ge=8, le=65_536, description="seeds per training step")
    score_batch_size: int = Field(
        32_768, ge=8, le=262_144, description="seeds per scoring step (each step samples "
        "the neighbourhood of all its seeds at once: fewer, larger steps share that work)")
    learning_rate: float = Field(0.005, gt=0, le=1)
    negatives_per_positive: int = Field(
        10, ge=1, le=10_000, description="negatives drawn per positive each epoch (imbalance)")
    max_per_epoch: int = Field(60_000, ge=100, description="seeds per epoch at most")
    positive_weight: float = Field(1.0, gt=0, le=1000, description="loss weight of positives")
    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="last share of the training period used for validation")
    max_validation_negatives: int = Field(30_000, ge=100)
    refit: bool = Field(
        True, description="once validation has picked the number of epochs, train a fresh "
        "network that long on the whole labelled period (its last fifth is the closest to "
        "what is scored next)")
    payment_features: bool = Field(
        True, description="append each payment's payment features to its edge inputs")
    mode: Literal["strict", "window"] = Field(
        "strict", description="payment features of the edge inputs: strict (only earlier "
        "payments) or window (also up to `horizon` after, within the graph at hand)")
    horizon: int = Field(DEFAULT_HORIZON, ge=1, description="seconds `window` mode looks ahead")
    explain_top: int = Field(5, ge=1, le=100, description="edges named per explained id")
    seed: int = Field(0, ge=0, le=2**63 - 1)


class GNNDetector(Detector):
    """Base of gnn_edges and gnn_accounts (`kind` names the network in finlab.gnn.model)."""

    supervised = True
    family = "gnn"
    extra = "gnn"
    extra_modules = ("torch", "torch_geometric")
    kind: ClassVar[str]
    Params = GNNParams

    # --- fit -----------------------------------------------------------------------------------

    def fit(self, data: Dataset, labels: Labels | None = None) -> GNNDetector:
        from finlab.gnn.train import train

        labels = require_labels(self, labels if labels is not None else data.labels)
        tx = data.transactions
        if len(tx) < 2:
            raise InputError(f"detector {self.name!r}: the training data has too few payments")
        nodes = node_index(data.accounts, tx)
        suspicious = suspicious_payments(tx, labels)
        ts = tx["ts"]
        cut = ts.min() + (ts.max() - ts.min()) * (1 - self.params.validation_fraction)
        early = (ts < cut).to_numpy()
        extra = self.edge_features(data)
        g_all = build_graph(tx, nodes, extra)
        if extra is not None and self.params.mode == "window":
            # the training graph's inputs must not look past its own last payment
            extra = self.edge_features(replace(data, transactions=tx[early]))
        else:
            extra = None if extra is None else extra[early]
        g_train = build_graph(tx[early], nodes, extra)
        cut_s = int(pd.Timestamp(cut).timestamp())
        train_ids, y_train = self.seeds(g_train, suspicious, g_train.ts >= 0)
        val_ids, y_val = self.seeds(g_all, suspicious, g_all.ts >= cut_s)
        for part, y in (("training", y_train), ("validation", y_val)):
            if y.sum() == 0:
                raise InputError(
                    f"detector {self.name!r}: no suspicious payments in the {part} part of the "
                    "training data; give it a longer labelled period")
        full_ids, y_full = (self.seeds(g_all, suspicious, np.ones(g_all.n_edges, bool))
                            if self.params.refit else (None, None))
        fitted = train(self.kind, g_train, train_ids, y_train, g_all, val_ids, y_val,
                       self.settings(), full_ids, y_full)
        self.network_ = fitted.net
        self.standardizer_ = fitted.standardizer
        self.threshold_ = fitted.threshold
        self.history_ = fitted.history
        self.validation_cut_ = pd.Timestamp(cut)
        self.fitted_ = True
        return self

    def seeds(self, g, suspicious: np.ndarray, period: np.ndarray):
        """The ids this level trains or validates on within a period, and their labels."""
        raise NotImplementedError

    def settings(self):
        from finlab.gnn.train import Settings

        p = self.params
        return Settings(p.hidden, p.layers, tuple(p.fanouts), p.epochs, p.batch_size,
                        p.score_batch_size, p.learning_rate, p.negatives_per_positive,
                        p.max_per_epoch, p.max_validation_negatives, p.positive_weight, p.seed)

    # --- score and explain ---------------------------------------------------------------------

    def edge_features(self, data: Dataset) -> np.ndarray | None:
        """The payment features of `data`'s payments (in `mode`), in its row order, as signed
        log1p (counts and sums span decades), or None when `payment_features` is off. Computed
        on `data` alone, so a training graph's inputs never see the payments after it."""
        if not self.params.payment_features:
            return None
        f = features_of(data, self.params.mode, self.params.horizon)
        x = f.to_numpy(np.float32)
        at = f.index.get_indexer(data.transactions["txn_id"])
        if not np.array_equal(at, np.arange(len(f))):
            x = x[at]
        # in place: at 7 million payments each copy of x is about 2 GiB
        out = np.abs(x)
        np.log1p(out, out=out)
        np.copysign(out, x, out=out)
        del x
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    def graph(self, data: Dataset):
        return cached(data, ("gnn_graph", self.params.payment_features, self.params.mode,
                                    self.params.horizon), lambda: build_graph(
            data.transactions, node_index(data.accounts, data.transactions),
            self.edge_features(data)))

    def score(self, data: Dataset) -> pd.Series:
        from finlab.gnn.train import predict

        self.check_fitted()
        g = self.graph(data)
        ids, index = self.scored(g)
        logits = predict(self.network_, self.kind, g, ids, self.settings(), self.standardizer_)
        return pd.Series(logits, index=index, name=self.name, dtype=np.float64)

    def scored(self, g) -> tuple[np.ndarray, pd.Index]:
        """Which edges or nodes of `g` are scored, and their ids."""
        raise NotImplementedError

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        """Gradient x input saliency: the payments in the scored id's sampled neighbourhood
        whose inputs moved its score most, with their amount and their share of the total."""
        from finlab.gnn.train import influence

        self.check_fitted()
        g = self.graph(data)
        where, index = self.scored(g)
        pos = index.get_indexer(pd.Index(ids))
        rows = []
        for one, at in zip(np.asarray(ids)[pos >= 0], pos[pos >= 0], strict=True):
            edges, weight = influence(self.network_, self.kind, g, int(where[at]),
                                      self.settings(), self.standardizer_)
            edges, weight = edges[:self.params.explain_top], weight[:self.params.explain_top]
            if len(edges) == 0:
                rows.append(pd.DataFrame({"id": [one], "reason": ["no payments in the data"],
                                          "value": [0.0], "weight": [0.0]}))
                continue
            src, dst = g.accounts[g.src[edges]], g.accounts[g.dst[edges]]
            reasons = [f"payment {t}: {a} -> {b}" for t, a, b in
                       zip(g.txn_id[edges], src, dst, strict=True)]
            rows.append(pd.DataFrame({"id": one, "reason": reasons,
                                      "value": np.expm1(g.edge_x[edges, 0]), "weight": weight}))
        if not rows:
            return explanation([], [], [], [])
        both = pd.concat(rows, ignore_index=True)
        return explanation(both["id"], both["reason"], both["value"], both["weight"])

    def write_model(self, path: Path) -> Path:
        """The trained network with what scoring needs (torch.save of plain tensors, arrays and
        numbers), for mlflow."""
        import torch

        self.check_fitted()
        torch.save({"detector": self.name, "params": self.params.model_dump(mode="json"),
                    "state_dict": self.network_.state_dict(),
                    "standardizer": vars(self.standardizer_), "threshold": self.threshold_,
                    "history": self.history_}, path)
        return path


def suspicious_payments(tx: pd.DataFrame, labels: Labels) -> pd.Index:
    """txn_ids of the suspicious payments among `tx` (labels of other payments are ignored)."""
    lt = labels.transactions
    ids = pd.Index(lt.loc[lt["is_suspicious"].to_numpy(bool), "txn_id"])
    return ids[ids.isin(tx["txn_id"])]
