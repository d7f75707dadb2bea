"""Classification heads trained on frozen encoder embeddings (plus features for fraud), in torch.

A head is a standardisation step and one or two dense layers. Its weights are returned as numpy
arrays so ``pipeline.modelbuild.compose`` can write them into the ONNX graph; ``head_probabilities`` is
the numpy reference the composed graph is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 0  # 0: multinomial logistic regression; >0: one ReLU hidden layer of this width
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    patience: int = 6  # epochs without a better validation loss before stopping
    seed: int = 0


@dataclass(frozen=True)
class HeadWeights:
    mean: np.ndarray  # [D] subtracted from the input
    scale: np.ndarray  # [D] the input is divided by it
    layers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (W [in, out], b [out])
    best_epoch: int = 0


def head_logits(weights: HeadWeights, x: np.ndarray) -> np.ndarray:
    h = (x - weights.mean) / weights.scale
    for i, (w, b) in enumerate(weights.layers):
        h = h @ w + b
        if i < len(weights.layers) - 1:
            h = np.maximum(h, 0.0)
    return np.asarray(h, dtype=np.float32)


def head_probabilities(weights: HeadWeights, x: np.ndarray) -> np.ndarray:
    logits = head_logits(weights, x)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


def _network(n_inputs: int, n_classes: int, config: HeadConfig) -> torch.nn.Sequential:
    if config.hidden <= 0:
        return torch.nn.Sequential(torch.nn.Dropout(config.dropout), torch.nn.Linear(n_inputs, n_classes))
    return torch.nn.Sequential(
        torch.nn.Dropout(config.dropout),
        torch.nn.Linear(n_inputs, config.hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(config.dropout),
        torch.nn.Linear(config.hidden, n_classes),
    )


def train_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    config: HeadConfig,
    *,
    on_epoch: Callable[[int, float], None] | None = None,
) -> HeadWeights:
    """Adam with early stopping on validation cross-entropy; returns the best epoch's weights."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    # A feature constant in training (e.g. "country missing" in synthetic data) gets scale 1 and a zero
    # weight below, so an unseen value at serving time cannot blow up through a 1/1e-6 scale.
    constant = std < 1e-6
    scale = np.where(constant, 1.0, std)
    xt = torch.from_numpy(((x_train - mean) / scale).astype(np.float32))
    yt = torch.from_numpy(y_train.astype(np.int64))
    xv = torch.from_numpy(((x_val - mean) / scale).astype(np.float32))
    yv = torch.from_numpy(y_val.astype(np.int64))

    net = _network(xt.shape[1], n_classes, config)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    best_loss, best_epoch, best_state = float("inf"), 0, net.state_dict()
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            loss_fn(net(xt[batch]), yt[batch]).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(net(xv), yv))
        if on_epoch is not None:
            on_epoch(epoch, val_loss)
        if val_loss < best_loss - 1e-5:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    net.load_state_dict(best_state)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [
        (m.weight.detach().numpy().T.astype(np.float32).copy(), m.bias.detach().numpy().astype(np.float32))
        for m in linears
    ]
    layers[0][0][constant, :] = 0.0
    return HeadWeights(mean.astype(np.float32), scale.astype(np.float32), layers, best_epoch)
