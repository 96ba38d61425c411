"""The QAT training loop: fine-tune a :class:`QATNetwork`'s shadow weights with Adam.

Spikes are (samples, steps, n_inputs) 0/1 (0-based steps), labels class indices; the
loss is the cross-entropy of the network's readout logits (float units).
"""

from __future__ import annotations

import numpy as np
import torch

from neurodeploy.errors import InputError
from neurodeploy.quantize.qat.network import QATNetwork


def evaluate_qat(
    qnet: QATNetwork, spikes: np.ndarray, labels: np.ndarray, batch_size: int = 256
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``qnet`` (its exact integer forward pass)."""
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            logits = qnet(spikes[i : i + batch_size])
            y = torch.as_tensor(np.asarray(labels[i : i + batch_size]), dtype=torch.long,
                                device=logits.device)
            total_loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
    n = max(1, len(labels))
    return total_loss / n, correct / n


def qat_finetune(
    qnet: QATNetwork,
    train_spikes: np.ndarray,
    train_labels: np.ndarray,
    val_spikes: np.ndarray,
    val_labels: np.ndarray,
    epochs: int = 5,
    lr: float = 0.5,
    batch_size: int = 32,
    seed: int = 0,
) -> dict:
    """Fine-tune ``qnet``'s shadow weights with Adam; keep the best state by validation.

    ``lr`` is in integer weight LSBs per step (Adam's step size): 0.5 moves a weight to
    the next grid point within a few steps. Spikes are (samples, steps, n_inputs) 0/1,
    labels class indices. The state before training (the PTQ network, epoch -1) competes
    too, so the kept state is never worse on the validation split; ties go to the lower
    validation loss, then to the earlier epoch. Deterministic given ``seed`` (float64 on
    CPU). Returns ``{"history": [per epoch: epoch, train_loss, train_acc, val_loss,
    val_acc], "best_epoch", "best_val_acc", "best_val_loss", "initial_val_acc"}``;
    ``qnet`` holds the best state afterwards (export it with ``to_fixed_point()``).
    """
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise InputError(f"epochs = {epochs}, batch_size = {batch_size}, lr = {lr}: need "
                         "epochs >= 0, batch_size >= 1, lr > 0")
    train_labels = np.asarray(train_labels)
    if len(train_spikes) != len(train_labels) or len(val_spikes) != len(val_labels):
        raise InputError("spikes and labels must have the same number of samples")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(qnet.parameters(), lr=lr)
    qnet.clamp_weights_()
    val_loss, val_acc = evaluate_qat(qnet, val_spikes, val_labels)
    best = (val_acc, val_loss, {k: v.detach().clone() for k, v in qnet.state_dict().items()}, -1)
    history: list[dict] = []
    initial_acc = val_acc
    for epoch in range(epochs):
        qnet.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(train_labels))
        total, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            logits = qnet(train_spikes[idx])
            y = torch.as_tensor(train_labels[idx], dtype=torch.long, device=logits.device)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            qnet.clamp_weights_()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(dim=1) == y).sum())
            seen += len(idx)
        qnet.eval()
        val_loss, val_acc = evaluate_qat(qnet, val_spikes, val_labels)
        history.append({"epoch": epoch, "train_loss": total / max(1, seen),
                        "train_acc": correct / max(1, seen), "val_loss": val_loss,
                        "val_acc": val_acc})
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best = (val_acc, val_loss,
                    {k: v.detach().clone() for k, v in qnet.state_dict().items()}, epoch)
    qnet.load_state_dict(best[2])
    qnet.eval()
    return {"history": history, "best_epoch": best[3], "best_val_acc": best[0],
            "best_val_loss": best[1], "initial_val_acc": initial_acc}
