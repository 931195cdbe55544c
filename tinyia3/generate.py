"""Text generation with a KV cache.

Without a cache, token n+1 costs a forward over all n tokens. The keys and values of earlier
tokens never change (attention is causal), so each block keeps them and a step feeds only the
newest token: its query attends to the cached keys. IA³'s l_k and l_v (and LoRA on c_attn)
are applied before the cache, exactly as in a full forward.
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import ArgumentError, is_int, is_number, require, require_seed
from .model import GPT2, require_model
from .tokenizer import require_tokenizer


def _check_sampling(temperature, top_k, top_p) -> None:
    require(is_number(temperature) and temperature >= 0, "temperature", "a finite number >= 0 (0 = greedy)", temperature)
    require(top_k is None or (is_int(top_k) and top_k >= 1), "top_k", "a positive integer or None", top_k)
    require(top_p is None or (is_number(top_p) and 0 < top_p <= 1), "top_p", "a number in (0, 1] or None", top_p)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, rng=None) -> int:
    """One token id from next-token logits (V,). temperature 0 means greedy (argmax)."""
    _check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return int(np.argmax(logits))
    logits = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < len(logits):
        kth = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    if top_p is not None and top_p < 1:
        # Keep the smallest set of most likely tokens whose probability reaches top_p.
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
        kept = np.zeros_like(probs)
        kept[keep] = probs[keep]
        probs = kept / kept.sum()
    rng = rng or np.random.default_rng()
    return int(rng.choice(len(probs), p=probs))


def generate_ids(model: GPT2, ids, max_new_tokens=50, temperature=1.0, top_k=None, top_p=None,
                 seed=None, adapter=None, eos_token_id=None) -> np.ndarray:
    """Prompt ids (T,) -> the new ids (at most max_new_tokens), using a KV cache.

    Stops early at eos_token_id (not included) or when the context of n_positions is full.
    """
    require_model(model, "generate")
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ArgumentError(f"generate_ids takes one prompt of shape (T,), found shape {ids.shape}.")
    require(is_int(max_new_tokens) and max_new_tokens >= 1, "generate: max_new_tokens", "a positive integer",
            max_new_tokens)
    _check_sampling(temperature, top_k, top_p)  # before the prompt's forward, not at the first token
    require_seed(seed, "generate: seed", optional=True)
    require(eos_token_id is None or is_int(eos_token_id), "generate: eos_token_id", "None or a token id",
            eos_token_id)
    rng = np.random.default_rng(seed)
    n_positions = model.config.n_positions
    new = []
    sites = model.sites(adapter)  # checked and cast once, not at every token
    wte = model.head_weight(sites)  # the LM head (an adapter that trains wte has its own)
    hidden, _, past = model.forward(ids, sites)  # the whole prompt once
    for step in range(max_new_tokens):
        token = sample_next(model.lm_head(hidden[0, -1], wte), temperature, top_k, top_p, rng)
        if eos_token_id is not None and token == eos_token_id:
            break
        new.append(token)
        if step == max_new_tokens - 1:
            break
        if len(ids) + len(new) >= n_positions:
            warnings.warn(f"Stopped after {len(new)} new tokens: the context of {n_positions} tokens is full.",
                          stacklevel=2)
            break
        hidden, _, past = model.forward(np.array([token]), sites, past=past)  # one token, cached k, v
    return np.array(new, dtype=np.int64)


def generate(model: GPT2, tokenizer, prompt: str, max_new_tokens=50, temperature=1.0, top_k=None,
             top_p=None, seed=None, adapter=None) -> str:
    """The text generated after `prompt` (the prompt itself is not repeated).

    temperature=0 gives greedy decoding; seed makes sampling repeatable.
    """
    require_model(model, "generate")
    require_tokenizer(tokenizer, "generate")
    ids = tokenizer.encode(prompt)
    if not ids:
        ids = [tokenizer.eos_token_id]  # GPT-2 was trained with <|endoftext|> between documents
    new = generate_ids(model, np.array(ids), max_new_tokens, temperature, top_k, top_p, seed, adapter,
                       eos_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(new)
