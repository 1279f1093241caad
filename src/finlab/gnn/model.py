"""The two networks (torch): an edge classifier with edge updates, and a GraphSAGE-style account
classifier. Aggregation uses torch-geometric's `scatter`.

`EdgeGNN` follows the Multi-GNN recipe: GIN-style messages (the sender's state plus the edge's)
passed along each payment and, separately, along its reverse; PNA-style aggregation (sum, mean
and max side by side) so a collector's many small inflows and a single large one look different;
an ego flag on the scored payments' ends, which lets a cycle through them show; port numbers
among the edge inputs; and after every layer an update of each edge's state from its two ends.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter

AGGREGATIONS = ("sum", "mean", "max")


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


def aggregate(messages: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Sum, mean and max of the messages arriving at each of `n` nodes, side by side."""
    return torch.cat([scatter(messages, index, dim=0, dim_size=n, reduce=r)
                      for r in AGGREGATIONS], dim=1)


class EdgeGNN(nn.Module):
    """Scores payments: node and edge states refined over `layers` rounds of message passing."""

    def __init__(self, node_in: int, edge_in: int, hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        width = len(AGGREGATIONS) * hidden
        self.node_encoder = nn.Linear(node_in + 1, hidden)   # + the ego flag
        self.edge_encoder = nn.Linear(edge_in, hidden)
        self.node_updates = nn.ModuleList(mlp(hidden + 2 * width, hidden, hidden)
                                          for _ in range(layers))
        self.edge_updates = nn.ModuleList(mlp(3 * hidden, hidden, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = mlp(3 * hidden, hidden, 1)

    def forward(self, x, edge_x, src, dst, targets) -> torch.Tensor:
        n = x.shape[0]
        h = torch.relu(self.node_encoder(x))
        e = torch.relu(self.edge_encoder(edge_x))
        for update, edge_update, norm in zip(self.node_updates, self.edge_updates, self.norms,
                                             strict=True):
            forward = aggregate(torch.relu(h[src] + e), dst, n)    # payer -> payee
            backward = aggregate(torch.relu(h[dst] + e), src, n)   # along the reverse edge
            h = norm(h + update(torch.cat([h, forward, backward], dim=1)))
            e = e + edge_update(torch.cat([h[src], h[dst], e], dim=1))
        t = targets
        return self.head(torch.cat([h[src[t]], h[dst[t]], e[t]], dim=1)).squeeze(1)


class AccountSAGE(nn.Module):
    """Scores accounts: each layer combines an account's own state with the mean over the
    payments it received and, separately, those it made (counterparty state and edge inputs)."""

    def __init__(self, node_in: int, edge_in: int, hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.node_encoder = nn.Linear(node_in + 1, hidden)
        self.edge_encoder = nn.Linear(edge_in, hidden)
        self.own = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.incoming = nn.ModuleList(nn.Linear(2 * hidden, hidden) for _ in range(layers))
        self.outgoing = nn.ModuleList(nn.Linear(2 * hidden, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = mlp(hidden, hidden, 1)

    def forward(self, x, edge_x, src, dst, targets) -> torch.Tensor:
        n = x.shape[0]
        h = torch.relu(self.node_encoder(x))
        e = torch.relu(self.edge_encoder(edge_x))
        for own, incoming, outgoing, norm in zip(self.own, self.incoming, self.outgoing,
                                                 self.norms, strict=True):
            into = scatter(torch.cat([h[src], e], dim=1), dst, dim=0, dim_size=n, reduce="mean")
            out = scatter(torch.cat([h[dst], e], dim=1), src, dim=0, dim_size=n, reduce="mean")
            h = norm(torch.relu(own(h) + incoming(into) + outgoing(out)))
        return self.head(h[targets]).squeeze(1)


NETWORKS = {"edges": EdgeGNN, "accounts": AccountSAGE}
