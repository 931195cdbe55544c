"""Losses over the model's next-token predictions, and their gradients.

Every loss here is a function of per-token log-probabilities lp = log p(y_t | y_<t) at a few
positions. That gives one recipe for all gradients: compute c = d loss / d lp for each scored
token, then d loss / d logits = −c · (softmax − onehot) (ops.nll_backward with dnll = −c), then
d hidden = d logits @ wte, then the model's backward. Only the rows that are scored ever go
through the 50257-wide LM head.

Convention: `loss_mask[b, t] = 1` means "the prediction of token t, made at position t-1,
counts". Position 0 has nothing before it and never counts; padding never counts either.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import ops
from .data import ChoiceBatch
from .errors import ArgumentError, ArgumentTypeError, require
from .model import GPT2, require_model

# Rows of the LM head handled at once. The head is (N, C) @ (C, V) with V = 50257: holding the
# logits of all N = B·T rows in float32 would take N·200 KB (200 MB at 8×128). Chunks bound that,
# and 512 rows still make a large, efficient matrix product.
HEAD_CHUNK = 512
# Rows of a chunk's logits whose softmax is taken at once. The softmax and its backward are six
# passes over (n, V) (max, shift, exp, sum, scale, scale again); a few rows at a time (4 rows of
# float32 are 0.8 MB) stay in the core's cache through all six. Measured on the 2-core machine,
# 512 rows: 80 ms whole, 45 ms in blocks of 4 rows.
SOFTMAX_ROWS = 4


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
            raise ArgumentError(f"{name} has shape {mask.shape}, expected {shape} (the shape of ids).")
        odd = mask[~np.isin(mask, (0, 1))]
        require(odd.size == 0, name, "0 (not counted) and 1 (counted) only", odd.flat[0] if odd.size else None,
                "A mask marks positions; it does not weight them.")
        weights = weights * (mask != 0)
    return weights[:, 1:]


def head_nll(model: GPT2, hidden_rows, targets, dnll=None, wte=None, train_wte=False):
    """The LM head over selected rows, chunk by chunk: nll (N,) of targets (N,) given hidden (N, C).

    dnll: d loss / d nll, either an array (N,) known in advance (one pass), or a function of
    nll (a second pass recomputes each chunk's logits: cheaper than keeping N·V of them), or
    None for a forward only. With it, also returns d loss / d hidden_rows (N, C) and, when
    train_wte, the head's share of d wte (V, C). wte: the head's weight (the model's by default).
    """
    wte = model.params["wte.weight"] if wte is None else wte
    N = len(targets)
    nll = np.empty(N, dtype=np.float64)
    chunks = _blocks(0, N, HEAD_CHUNK)
    if dnll is None or callable(dnll):
        for part in chunks:
            _chunk_nll(model.lm_head(hidden_rows[part], wte), part, targets, nll)
        if dnll is None:
            return nll, None, None
        dnll = dnll(nll)
    dhidden = np.zeros_like(hidden_rows)
    dwte = np.zeros_like(wte) if train_wte else None
    for part in chunks:
        h = hidden_rows[part]
        # The chunk's logits, softmax and dlogits share one (n, V) buffer: each is dead once the next exists.
        dlogits = _chunk_nll(model.lm_head(h, wte), part, targets, nll, dnll)  # (n, V)
        dhidden[part] = dlogits @ wte  # (n, C)
        if dwte is not None:
            dwte += dlogits.T @ h  # (V, C)
    return nll, dhidden, dwte


def _blocks(start, stop, size):
    """[start, stop) as consecutive slices of at most size rows."""
    return [slice(i, min(i + size, stop)) for i in range(start, stop, size)]


def _chunk_nll(logits, part, targets, nll, dnll=None):
    """nll[part] from the chunk's logits (n, V), SOFTMAX_ROWS rows at a time. With dnll, the
    logits' buffer becomes d loss / d logits in place (softmax, then its backward) and is returned."""
    for local in _blocks(0, len(logits), SOFTMAX_ROWS):
        rows = slice(part.start + local.start, part.start + local.stop)
        nll[rows], cache = ops.nll_forward(logits[local], targets[rows], cache=dnll is not None, overwrite=True)
        if dnll is not None:
            ops.nll_backward(dnll[rows], cache, overwrite=True)
    return logits


def _scored_rows(ids, mask):
    """Flat indices of the positions that predict the masked tokens, and those tokens.

    mask (B, T): 1 at tokens t that are scored; position t-1 predicts token t."""
    b, t = np.nonzero(mask)
    if np.any(t == 0):
        raise ArgumentError("Token 0 of a sequence cannot be scored: nothing comes before it.")
    return b * ids.shape[1] + (t - 1), ids[b, t], b


class Scored(NamedTuple):
    """A forward pass and the rows of it that the loss scores."""

    hidden: np.ndarray  # (B, T, C) after ln_f
    record: object  # the ForwardCache, or None
    rows: np.ndarray  # (M,) flat positions that predict a scored token
    targets: np.ndarray  # (M,) those tokens
    row_of: np.ndarray  # (M,) the sequence each row belongs to
    hidden_rows: np.ndarray  # (M, C): what the LM head is applied to
    wte: np.ndarray  # the head's weight: the adapter's when it trains wte


def _scored_forward(model, adapter, ids, scored, attention_mask, cache=False) -> Scored:
    """Forward pass, then pick the hidden states that predict the scored tokens."""
    sites = model.sites(adapter)  # checked and cast once, for the forward and the head
    hidden, record, _ = model.forward(ids, sites, attention_mask, cache=cache)
    rows, targets, row_of = _scored_rows(ids, scored)
    return Scored(hidden, record, rows, targets, row_of, hidden.reshape(-1, hidden.shape[-1])[rows],
                  model.head_weight(sites))


def _trains_wte(s: Scored) -> bool:
    return "wte.weight" in s.record.sites.top


def _backward(model, adapter, s: Scored, dhidden_rows, dwte):
    """Scatter the scored rows' gradients into d hidden (B, T, C) and run the model's backward."""
    dhidden = np.zeros_like(s.hidden)
    dhidden.reshape(-1, s.hidden.shape[-1])[s.rows] = dhidden_rows
    return model.backward(dhidden, s.record, adapter, dwte)


# -- next-token cross-entropy (language modelling) -------------------------------------------------


def _targets(model, ids, loss_mask, attention_mask):
    """ids as (B, T) and the (B, T) mask of scored tokens, refusing a loss with no target.
    The ids and attention_mask are checked first, as the forward checks them."""
    ids2, _ = model._check_inputs(ids, attention_mask, None)
    scored = np.zeros(ids2.shape, dtype=np.int64)
    scored[:, 1:] = target_weights(ids2, loss_mask, attention_mask)
    if scored.sum() == 0:
        raise ArgumentError(
            "No target counts for the loss: loss_mask (and attention_mask) leave no position t >= 1 "
            "at 1. A sequence needs at least two real tokens, and the mask must mark targets."
        )
    return ids2, scored


def loss_and_grad(model: GPT2, adapter, ids, loss_mask=None, attention_mask=None):
    """Mean next-token cross-entropy over counted targets, and its gradient with respect to the
    adapter (IA3, LoRA, BitFit or FullFineTune): an adapter of the same type holding the gradients."""
    require_model(model, "tinyia3.loss_and_grad")
    _require_adapter(adapter)
    ids2, scored = _targets(model, ids, loss_mask, attention_mask)
    s = _scored_forward(model, adapter, ids2, scored, attention_mask, cache=True)
    count = len(s.rows)
    nll, dh_rows, dwte = head_nll(model, s.hidden_rows, s.targets, np.full(count, 1.0 / count), s.wte, _trains_wte(s))
    return float(nll.mean()), _backward(model, adapter, s, dh_rows, dwte)


def _require_adapter(adapter):
    if adapter is None:
        raise ArgumentError("A gradient needs something to train: pass an adapter (tinyia3.IA3.ones(model), "
                         "LoRA.init(model), BitFit.of(model) or FullFineTune.of(model)).")


def loss(model: GPT2, adapter, ids, loss_mask=None, attention_mask=None) -> float:
    """The same mean next-token cross-entropy, forward only (no activation record kept)."""
    require_model(model, "tinyia3.loss")
    ids2, scored = _targets(model, ids, loss_mask, attention_mask)
    s = _scored_forward(model, adapter, ids2, scored, attention_mask)
    nll, _, _ = head_nll(model, s.hidden_rows, s.targets, wte=s.wte)
    return float(nll.mean())


# -- multiple choice: the T-Few objective and rank classification ----------------------------------
#
# Liu et al. 2022, section 3.2. For an example with prompt x and choices y⁽¹⁾…y⁽ᴺ⁾ of which y⁺ is
# right, with lp the per-token log-probabilities of a choice's tokens given the prompt:
#   L_LM = −(1/T⁺) Σ_t lp⁺_t                                        (the right answer's tokens)
#   L_UL = −Σ_{n wrong} Σ_t log(1 − exp(lp⁽ⁿ⁾_t)) / Σ_{n wrong} T⁽ⁿ⁾    (unlikelihood of wrong ones)
#   L_LN = −log softmax_n(β⁽ⁿ⁾)[+],  β⁽ⁿ⁾ = (1/T⁽ⁿ⁾) Σ_t lp⁽ⁿ⁾_t       (length-normalised ranking)
# Token sums run over the whole batch (as in T-Few); L_LN is averaged over examples.
# Rank classification predicts argmax_n β⁽ⁿ⁾.

TFEW_TERMS = ("lm", "ul", "ln")


def _check_choices(where: str, model, batch, terms=None) -> None:
    """The arguments of a multiple-choice loss, checked where they enter."""
    require_model(model, where)
    require(isinstance(batch, ChoiceBatch), f"{where}: batch", "a ChoiceBatch", batch,
            "Make one with tinyia3.data.mc_batch(examples).", ArgumentTypeError)
    if terms is not None:
        check_terms(terms, where)


def check_terms(terms, where: str) -> None:
    ok = isinstance(terms, (tuple, list, set, frozenset)) and bool(terms) and set(terms) <= set(TFEW_TERMS)
    require(ok, f"{where}: terms", f"a non-empty subset of {TFEW_TERMS}", terms,
            "Pass a tuple of names, e.g. ('lm', 'ln'), not one string.")


def choice_logprobs(model: GPT2, adapter, batch: ChoiceBatch):
    """Forward only: log-probabilities lp (M,) of every choice token, and the row (R,) each belongs to."""
    _check_choices("choice_logprobs", model, batch)
    s = _scored_forward(model, adapter, batch.ids, batch.choice_mask, batch.attention_mask)
    nll, _, _ = head_nll(model, s.hidden_rows, s.targets, wte=s.wte)
    return -nll, s.row_of


def choice_scores(model: GPT2, adapter, batch: ChoiceBatch) -> np.ndarray:
    """Length-normalised log-likelihood β (R,) of every (example, choice) row, forward only."""
    lp, row_of = choice_logprobs(model, adapter, batch)
    return _beta(lp, row_of, len(batch.ids))


def _beta(lp, row_of, R):
    return np.bincount(row_of, weights=lp, minlength=R) / np.bincount(row_of, minlength=R)


def predict(scores: np.ndarray, batch: ChoiceBatch) -> np.ndarray:
    """Rank classification: the choice (index within its example) with the highest score."""
    require(isinstance(batch, ChoiceBatch), "predict: batch", "a ChoiceBatch", batch, error=ArgumentTypeError)
    require(isinstance(scores, np.ndarray) and scores.shape == (len(batch.ids),), "predict: scores",
            f"one score per (example, choice) row of the batch, shape ({len(batch.ids)},)", scores,
            "Pass the scores choice_scores(model, adapter, batch) returns.")
    predictions = []
    for e in range(len(batch.labels)):
        predictions.append(int(np.argmax(scores[batch.example == e])))
    return np.array(predictions)


def tfew_terms(lp, row_of, batch: ChoiceBatch, terms=TFEW_TERMS):
    """The T-Few terms from per-token log-probs lp (M,) of the scored tokens, and d(sum)/d lp.

    Returns ({"lm": L_LM, "ul": L_UL, "ln": L_LN} for the chosen terms, dL/dlp (M,)).
    """
    check_terms(terms, "tfew_terms")
    R = len(batch.ids)
    token_right = batch.correct[row_of]  # (M,)
    values, dlp = {}, np.zeros_like(lp)
    if "lm" in terms:
        n_right = token_right.sum()
        values["lm"] = -lp[token_right].sum() / n_right
        dlp -= token_right / n_right
    if "ul" in terms:
        wrong = ~token_right
        one_minus_p = -np.expm1(lp[wrong])  # 1 − exp(lp), accurate when p is close to 1
        values["ul"] = -np.log(one_minus_p).sum() / wrong.sum()
        dlp[wrong] += np.exp(lp[wrong]) / one_minus_p / wrong.sum()  # d/dlp −log(1 − e^lp) = p / (1 − p)
    if "ln" in terms:
        beta = _beta(lp, row_of, R)  # (R,)
        dbeta = np.zeros(R)
        E = len(batch.labels)
        values["ln"] = 0.0
        for e in range(E):
            mine = np.flatnonzero(batch.example == e)
            z = beta[mine] - beta[mine].max()
            q = np.exp(z) / np.exp(z).sum()  # softmax over this example's choices
            right = batch.correct[mine]
            values["ln"] -= np.log(q[right][0]) / E
            dbeta[mine] = (q - right) / E
        dlp += dbeta[row_of] / np.bincount(row_of, minlength=R)[row_of]  # dβ/dlp = 1/T
    return values, dlp


def tfew_loss_and_grad(model: GPT2, adapter, batch: ChoiceBatch, terms=TFEW_TERMS):
    """L = Σ of the chosen T-Few terms, its gradient (an adapter of the adapter's type), the terms
    by name and the scores β (R,)."""
    _check_choices("tfew_loss_and_grad", model, batch, terms)
    _require_adapter(adapter)
    s = _scored_forward(model, adapter, batch.ids, batch.choice_mask, batch.attention_mask, cache=True)
    found = {}

    def dnll(nll):
        found["values"], dlp = tfew_terms(-nll, s.row_of, batch, terms)
        return -dlp  # lp = −nll

    nll, dh_rows, dwte = head_nll(model, s.hidden_rows, s.targets, dnll, s.wte, _trains_wte(s))
    grads = _backward(model, adapter, s, dh_rows, dwte)
    values = found["values"]
    return float(sum(values.values())), grads, values, _beta(-nll, s.row_of, len(batch.ids))


def tfew_loss_and_scores(model: GPT2, adapter, batch: ChoiceBatch, terms=TFEW_TERMS):
    """Forward only: the T-Few loss and the scores β (R,) for rank classification, from one pass."""
    _check_choices("tfew_loss_and_scores", model, batch, terms)
    lp, row_of = choice_logprobs(model, adapter, batch)
    return float(sum(tfew_terms(lp, row_of, batch, terms)[0].values())), _beta(lp, row_of, len(batch.ids))


def tfew_loss(model: GPT2, adapter, batch: ChoiceBatch, terms=TFEW_TERMS) -> float:
    """The T-Few loss, forward only (for finite differences and evaluation)."""
    return tfew_loss_and_scores(model, adapter, batch, terms)[0]
