"""Training and scoring on sampled neighbourhoods (torch), shared by both GNN detectors.

Memory stays bounded: every step sees only a batch of seeds and at most `fanouts` sampled edges
per node and hop, so a hub adds a fixed number of edges however busy it is, and the whole graph
is never on the network at once.

Class imbalance (suspicious payments are well under 1%): each epoch keeps every positive and a
fresh random draw of `negatives_per_positive` negatives for each (capped by `max_per_epoch`), and
the loss weighs positives by `positive_weight`. Scores are logits, so the ranking is what counts;
the threshold is the best F1 on the validation period, negatives reweighted to their true share.

Determinism: torch's generator is forked and seeded for the fit (weights, then nothing else draws
from it), the sampler draws from a numpy Generator derived from the seed, and torch runs its
deterministic kernels while finlab trains or scores (multi-threaded gradient sums otherwise differ
in the last bits from run to run), so a fit and its scores repeat exactly on the CPU.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from finlab.gnn.graph import PaymentGraph, sample_subgraph
from finlab.gnn.model import NETWORKS
from finlab.rng import generator


@dataclass(frozen=True)
class Settings:
    """What training and scoring need from a detector's parameters."""

    hidden: int
    layers: int
    fanouts: tuple[int, ...]
    epochs: int
    batch_size: int
    score_batch_size: int
    learning_rate: float
    negatives_per_positive: int
    max_per_epoch: int
    max_validation_negatives: int
    positive_weight: float
    seed: int


@contextmanager
def deterministic():
    """torch's deterministic kernels for the duration, then the caller's setting again."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@dataclass
class Standardizer:
    """Means and spreads of node and edge inputs on the training graph."""

    node_mean: np.ndarray
    node_std: np.ndarray
    edge_mean: np.ndarray
    edge_std: np.ndarray

    @classmethod
    def of(cls, g: PaymentGraph) -> Standardizer:
        def spread(a):
            std = a.std(0)
            return a.mean(0), np.where(std > 0, std, 1).astype(np.float32)

        (nm, ns), (em, es) = spread(g.node_x), spread(g.edge_x)
        return cls(nm.astype(np.float32), ns, em.astype(np.float32), es)


def batch_inputs(g: PaymentGraph, kind: str, seeds: np.ndarray, s: Settings,
                 z: Standardizer, rng: np.random.Generator):
    """The sampled neighbourhood of sorted seeds as tensors: node inputs with the ego flag, edge
    inputs, local endpoints, and where the seeds' outputs sit; also the global edge indices."""
    sub = (sample_subgraph(g, s.fanouts, rng, seed_edges=seeds) if kind == "edges"
           else sample_subgraph(g, s.fanouts, rng, seed_nodes=seeds))
    ego = np.zeros((len(sub.nodes), 1), np.float32)
    ego[sub.seed_nodes] = 1
    x = np.hstack([(g.node_x[sub.nodes] - z.node_mean) / z.node_std, ego])
    edge_x = g.edge_x[sub.edges]    # a copy (fancy indexing), standardized in place
    edge_x -= z.edge_mean
    edge_x /= z.edge_std
    targets = sub.seed_edges if kind == "edges" else sub.seed_nodes
    return (torch.from_numpy(x), torch.from_numpy(edge_x),
            torch.from_numpy(sub.src), torch.from_numpy(sub.dst),
            torch.from_numpy(targets)), sub.edges


def predict(net, kind: str, g: PaymentGraph, ids: np.ndarray, s: Settings, z: Standardizer,
            stream: str = "score") -> np.ndarray:
    """Logits of the edges (or nodes) `ids` of `g`, in that order, batch by batch."""
    rng = generator(s.seed, "gnn", kind, stream)
    out = np.zeros(len(ids), np.float64)
    net.eval()
    with deterministic(), torch.inference_mode():
        for lo in range(0, len(ids), s.score_batch_size):
            part = np.asarray(ids[lo:lo + s.score_batch_size])
            order = np.argsort(part, kind="stable")
            inputs, _ = batch_inputs(g, kind, part[order], s, z, rng)
            out[lo + order] = net(*inputs).double().numpy()
    return out


@dataclass
class Fitted:
    net: torch.nn.Module
    standardizer: Standardizer
    threshold: float
    history: list[dict]


def new_network(kind: str, g: PaymentGraph, s: Settings):
    """A network for `g`'s inputs, weights drawn from torch's generator, and its optimizer."""
    net = NETWORKS[kind](g.node_x.shape[1], g.edge_x.shape[1], s.hidden, s.layers)
    return net, torch.optim.Adam(net.parameters(), lr=s.learning_rate)


@dataclass(frozen=True)
class Seeds:
    """The ids one training run draws from, split by label once, and their label lookup."""

    positives: np.ndarray
    negatives: np.ndarray
    label: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def of(cls, ids: np.ndarray, y: np.ndarray) -> Seeds:
        return cls(ids[y == 1], ids[y == 0], label_lookup(ids, y))


def one_epoch(net, opt, kind: str, g: PaymentGraph, seeds_of: Seeds, s: Settings,
              z: Standardizer, rng: np.random.Generator) -> float:
    """One pass over every positive and a fresh draw of negatives (the imbalance handling); the
    mean loss."""
    positives, negatives = seeds_of.positives, seeds_of.negatives
    n_neg = min(len(negatives), s.negatives_per_positive * len(positives),
                max(s.max_per_epoch - len(positives), 0))
    drawn = np.concatenate([positives, rng.choice(negatives, n_neg, replace=False)])
    drawn = drawn[rng.permutation(len(drawn))]
    weight = torch.tensor(s.positive_weight)
    net.train()
    total = 0.0
    for lo in range(0, len(drawn), s.batch_size):
        seeds = np.sort(drawn[lo:lo + s.batch_size])
        inputs, _ = batch_inputs(g, kind, seeds, s, z, rng)
        target = torch.from_numpy(seeds_of.label(seeds).astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            net(*inputs), target, pos_weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(seeds)
    return total / max(len(drawn), 1)


def train(kind: str, g_train: PaymentGraph, train_ids: np.ndarray, y_train: np.ndarray,
          g_val: PaymentGraph, val_ids: np.ndarray, y_val: np.ndarray, s: Settings,
          full_ids: np.ndarray | None = None, y_full: np.ndarray | None = None) -> Fitted:
    """Fit on the training graph's seeds; keep the epoch with the best validation average
    precision (validation seeds scored on the train+validation graph). With `full_ids` (seeds of
    `g_val`, the whole labelled period), train a fresh network on them for that many epochs."""
    from sklearn.metrics import average_precision_score

    rng = generator(s.seed, "gnn", kind, "train")
    z = Standardizer.of(g_train)
    # a stream of its own: the validation labels do not move the training draws
    val_ids, val_w, yv = validation_sample(val_ids, y_val, s.max_validation_negatives,
                                           generator(s.seed, "gnn", kind, "validation sample"))
    history, best = [], None
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(s.seed)
        net, opt = new_network(kind, g_train, s)
        training = Seeds.of(train_ids, y_train)
        for epoch in range(s.epochs):
            loss = one_epoch(net, opt, kind, g_train, training, s, z, rng)
            scores = predict(net, kind, g_val, val_ids, s, z, stream="validation")
            ap = float(average_precision_score(yv, scores, sample_weight=val_w)) \
                if 0 < yv.sum() < len(yv) else float("nan")
            history.append({"epoch": epoch, "loss": loss, "validation_ap": ap})
            if best is None or ap > best[0]:
                best = (ap, copy.deepcopy(net.state_dict()), scores, epoch)
        net.load_state_dict(best[1])
        threshold = best_f1_threshold(yv, best[2], val_w)
        if full_ids is None:
            return Fitted(net, z, threshold, history)
        flagged = float(np.average(best[2] >= threshold, weights=val_w))
        torch.manual_seed(s.seed)
        z = Standardizer.of(g_val)
        net, opt = new_network(kind, g_val, s)
        everything = Seeds.of(full_ids, y_full)
        for epoch in range(best[3] + 1):
            loss = one_epoch(net, opt, kind, g_val, everything, s, z, rng)
            history.append({"epoch": epoch, "loss": loss, "refit": True})
        scores = predict(net, kind, g_val, val_ids, s, z, stream="validation")
    return Fitted(net, z, share_threshold(scores, val_w, flagged), history)


def label_lookup(ids: np.ndarray, y: np.ndarray):
    """A function giving the label of each of some of `ids` (vectorized)."""
    order = np.argsort(ids, kind="stable")
    sorted_ids, sorted_y = ids[order], y[order]
    return lambda seeds: sorted_y[np.searchsorted(sorted_ids, seeds)]


def validation_sample(ids: np.ndarray, y: np.ndarray, max_negatives: int,
                      rng: np.random.Generator):
    """Every validation positive and at most `max_negatives` negatives, with weights that give
    the sampled negatives their true share (for average precision and the threshold)."""
    pos, neg = ids[y == 1], ids[y == 0]
    keep = np.sort(rng.choice(neg, min(len(neg), max_negatives), replace=False))
    w_neg = len(neg) / max(len(keep), 1)
    out = np.concatenate([pos, keep])
    return out, np.r_[np.ones(len(pos)), np.full(len(keep), w_neg)], \
        np.r_[np.ones(len(pos), np.int8), np.zeros(len(keep), np.int8)]


def share_threshold(scores: np.ndarray, weights: np.ndarray, share: float) -> float:
    """The score at or above which about `share` of the (weighted) scores lie: the refitted
    network flags as many validation payments as the validated one did at its best F1."""
    if share <= 0:
        return float("inf")
    order = np.argsort(-scores, kind="stable")
    reached = np.cumsum(weights[order]) / weights.sum()
    return float(scores[order][min(int(np.searchsorted(reached, share)), len(scores) - 1)])


def best_f1_threshold(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """The score at or above which flagging gives the best (weighted) F1; +inf without
    positives."""
    from sklearn.metrics import precision_recall_curve

    if y.sum() == 0 or y.sum() == len(y):
        return float("inf")
    p, r, t = precision_recall_curve(y, scores, sample_weight=weights)
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0)[:-1]
    return float(t[int(np.argmax(f1))])


def influence(net, kind: str, g: PaymentGraph, one: int, s: Settings, z: Standardizer):
    """Gradient x input saliency of each sampled edge's inputs on the logit of one scored edge
    (or node): global edge indices and their share of the total, largest first."""
    rng = generator(s.seed, "gnn", kind, "explain", int(one))
    inputs, edges = batch_inputs(g, kind, np.asarray([one], np.int64), s, z, rng)
    x, edge_x, *rest = inputs
    edge_x = edge_x.clone().requires_grad_(True)
    net.eval()
    with deterministic():
        net(x, edge_x, *rest).sum().backward()
    net.zero_grad(set_to_none=True)
    weight = (edge_x.grad * edge_x).abs().sum(1).detach().double().numpy()
    weight = weight / weight.sum() if weight.sum() > 0 else weight
    order = np.argsort(-weight, kind="stable")
    return edges[order], weight[order]
