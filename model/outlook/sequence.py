"""Next month's profitability class from a customer's monthly series: a GRU in PyTorch.

Each month's input is the month's purchase days and spend (log1p), the window's RFM in
its standard units and the month's class one-hot (zeros before the first full window).
The network reads the series month by month and, at every month from the first full
window on, gives the logits of next month's class; it is trained on all of those at once
(cross-entropy), so one customer's 18 months are 15 or so examples that share a state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from model.outlook.profitability import CLASSES


class NextClassGRU(nn.Module):
    def __init__(self, n_inputs: int, hidden: int = 32) -> None:
        super().__init__()
        self.gru = nn.GRU(n_inputs, hidden, batch_first=True)
        self.out = nn.Linear(hidden, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(x)
        out: torch.Tensor = self.out(states)
        return out


@dataclass(frozen=True)
class Trained:
    network: NextClassGRU
    epochs: int
    best_val_loss: float


def fit(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    epochs: int = 30,
    batch: int = 512,
    patience: int = 4,
    progress: bool = True,
) -> Trained:
    """x: (customers, months, inputs); y: (customers, months) next month's class, -1 where
    there is none to learn. A tenth of the customers is held out to stop early."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    val, train = order[: len(x) // 10], order[len(x) // 10 :]
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    network = NextClassGRU(x.shape[2])
    optimiser = torch.optim.Adam(network.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-1)
    best, best_state, waited, ran = np.inf, network.state_dict(), 0, 0
    bar = tqdm(range(epochs), desc="sequence model", unit="epoch", disable=not progress)
    for _ in bar:
        network.train()
        for start in range(0, len(train), batch):
            rows = torch.as_tensor(train[start : start + batch])
            logits = network(xt[rows])
            loss = loss_fn(logits.reshape(-1, len(CLASSES)), yt[rows].reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        rng.shuffle(train)
        ran += 1
        with torch.no_grad():
            network.eval()
            v = torch.as_tensor(val)
            val_loss = float(loss_fn(network(xt[v]).reshape(-1, len(CLASSES)), yt[v].reshape(-1)))
        bar.set_postfix(val_log_loss=f"{val_loss:.4f}")
        if val_loss < best - 1e-4:
            best, waited = val_loss, 0
            best_state = {k: t.clone() for k, t in network.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    network.load_state_dict(best_state)
    network.eval()
    return Trained(network, ran, best)


def predict_proba(network: NextClassGRU, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """(customers, months, classes): next month's class probabilities at every month."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            logits = network(torch.as_tensor(x[start : start + batch], dtype=torch.float32))
            out.append(torch.softmax(logits, dim=-1).numpy())
    return np.concatenate(out)
