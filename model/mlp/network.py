"""The seed's 3-layer MLP: 31 encoded features in, 5 class logits out."""

from __future__ import annotations

import torch
from torch import nn


class PurchaseMLP(nn.Module):
    """Three linear layers with ReLU between them; softmax is applied by the caller."""

    def __init__(self, n_features: int, n_classes: int, hidden: tuple[int, int] = (64, 32)):
        super().__init__()
        self.hidden = hidden
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden[0]),
            nn.ReLU(),
            nn.Linear(hidden[0], hidden[1]),
            nn.ReLU(),
            nn.Linear(hidden[1], n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
