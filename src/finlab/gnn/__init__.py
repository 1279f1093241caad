"""Graph neural networks on the payment graph (the optional `finlab[gnn]` extra).

`graph` turns a dataset's payments into arrays (accounts as nodes, payments as edges with their
inputs, port numbers) and samples bounded neighbourhoods with numpy; it needs no torch. `model`
and `train` hold the torch networks and their training loop and are imported only when a GNN
detector is fitted, so the default install never imports torch.
"""
