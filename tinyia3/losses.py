"""Losses over the model's next-token predictions, and their gradients.

Convention (shared by every loss here): `loss_mask[b, t] = 1` means "the prediction of token t,
made at position t-1, counts". Position 0 has nothing before it and never counts; padding
(attention_mask 0) never counts either.
"""

from __future__ import annotations

import numpy as np

from . import ops
from .ia3 import IA3
from .model import GPT2

# Rows of the LM head handled at once. The head is (N, C) @ (C, V) with V = 50257: holding the
# logits of all N = B·T rows in float32 would take N·200 KB (200 MB at 8×128). Chunks bound that.
HEAD_CHUNK = 1024


def target_weights(ids, loss_mask=None, attention_mask=None):
    """(B, T) ids -> (B, T-1) weights of the targets ids[:, 1:], 1 where a target counts."""
    ids = np.asarray(ids)
    shape = ids.shape if ids.ndim == 2 else (1, ids.shape[-1])
    weights = np.ones(shape)
    for name, mask in (("loss_mask", loss_mask), ("attention_mask", attention_mask)):
        if mask is None:
            continue
        mask = np.asarray(mask)
        mask = mask[None, :] if mask.ndim == 1 else mask
        if mask.shape != shape:
            raise ValueError(f"{name} has shape {mask.shape}, expected {shape} (the shape of ids).")
        weights = weights * (mask != 0)
    return weights[:, 1:]


def _targets(ids, loss_mask, attention_mask):
    """ids as (B, T), target weights (B, T-1) and their sum, refusing a loss with no target."""
    ids = np.asarray(ids)
    ids2 = ids[None, :] if ids.ndim == 1 else ids
    weights = target_weights(ids2, loss_mask, attention_mask)
    count = weights.sum()
    if count == 0:
        raise ValueError(
            "No target counts for the loss: loss_mask (and attention_mask) leave no position t >= 1 "
            "at 1. A sequence needs at least two real tokens, and the mask must mark targets."
        )
    return ids2, weights, count


def head_loss(model: GPT2, hidden, targets, weights, grad=True, trainable="ia3"):
    """Σ weights · cross-entropy of the LM head's predictions, chunk by chunk.

    hidden (N, C), targets (N,), weights (N,). Rows of weight 0 are skipped entirely.
    Returns (loss_sum, dhidden (N, C) or None, dwte (V, C) or None); dwte only when trainable="all".
    """
    wte = model.params["wte.weight"]
    rows = np.flatnonzero(weights)
    loss = 0.0
    dhidden = np.zeros_like(hidden) if grad else None
    dwte = np.zeros_like(wte) if grad and trainable == "all" else None
    for start in range(0, len(rows), HEAD_CHUNK):
        r = rows[start:start + HEAD_CHUNK]
        h = hidden[r]  # (n, C)
        logits = model.lm_head(h)  # (n, V)
        part, cache = ops.cross_entropy_forward(logits, targets[r], weights[r], cache=grad)
        loss += part
        if grad:
            dlogits = ops.cross_entropy_backward(1.0, cache)  # (n, V)
            dhidden[r] = dlogits @ wte  # (n, C)
            if dwte is not None:
                dwte += dlogits.T @ h  # (V, C)
    return loss, dhidden, dwte


def loss_and_grad(model: GPT2, ia3: IA3 | None, ids, loss_mask=None, attention_mask=None, trainable="ia3"):
    """Mean next-token cross-entropy over counted targets, and its gradient.

    trainable="ia3" (default): grads is an IA3 of d loss / d (l_k, l_v, l_ff[, l_q]).
    trainable="all": grads is a dict of every weight's gradient by checkpoint name (and, when
    `ia3` is given, the IA3 gradients under the key "ia3").
    """
    ids2, weights, count = _targets(ids, loss_mask, attention_mask)
    hidden, record, _ = model.forward(ids2, ia3, attention_mask, cache=True)  # (B, T, C)
    B, T, C = hidden.shape
    inputs = hidden[:, :-1].reshape(-1, C)  # position t-1 predicts token t
    loss_sum, dinputs, dwte = head_loss(
        model, inputs, ids2[:, 1:].reshape(-1), weights.reshape(-1), True, trainable
    )
    dhidden = np.zeros_like(hidden)
    dhidden[:, :-1] = dinputs.reshape(B, T - 1, C) / count
    dia3, dweights = model.backward(dhidden, record, ia3, trainable)
    loss = loss_sum / count
    if trainable == "ia3":
        return loss, dia3
    dweights["wte.weight"] += dwte / count  # the tied LM head's share
    if dia3 is not None:
        dweights["ia3"] = dia3
    return loss, dweights


def loss(model: GPT2, ia3: IA3 | None, ids, loss_mask=None, attention_mask=None) -> float:
    """The same mean next-token cross-entropy, forward only (no activation record kept)."""
    ids2, weights, count = _targets(ids, loss_mask, attention_mask)
    hidden, _, _ = model.forward(ids2, ia3, attention_mask)
    C = hidden.shape[-1]
    loss_sum, _, _ = head_loss(model, hidden[:, :-1].reshape(-1, C), ids2[:, 1:].reshape(-1),
                               weights.reshape(-1), grad=False)
    return loss_sum / count
