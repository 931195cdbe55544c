"""Lesson 7's exercise: fold an IA³ adapter into the weights. Not a gradient: (b) is "the merged
model computes what the model with its adapter computes", (c) compares every weight with
tinyia3.ia3.merge, and a wrong merge is compared with the common wrong merges, run on copies."""

from __future__ import annotations


import numpy as np

from ..gradcheck import TOLERANCE_F64, rel_error
from ..ia3 import IA3, merge
from ..model import GPT2
from .backward import tiny_model
from .checker import MATCH, call, shape_text
from .report import Report
from .spec import Exercise, Mistake


def _merge(model, ia3, bias=True, c_proj_bias=False, rows=True, swap=False, in_place=False):
    """A merge with one step changed: each change is a common mistake."""
    C = model.config.n_embd
    params = dict(model.params)
    for i in range(model.config.n_layer):
        l_k, l_v, l_ff = ia3.l_k[i], ia3.l_v[i], ia3.l_ff[i]
        s = np.concatenate([np.ones(C), l_v, l_k] if swap else [np.ones(C), l_k, l_v])
        for part in ("weight",) + (("bias",) if bias else ()):
            key = f"h.{i}.attn.c_attn.{part}"
            if in_place:
                params[key] *= s
            else:
                params[key] = model.params[key] * s
        key = f"h.{i}.mlp.c_proj.weight"
        params[key] = model.params[key] * (l_ff[:, None] if rows else l_ff)
        if c_proj_bias:
            params[f"h.{i}.mlp.c_proj.bias"] = model.params[f"h.{i}.mlp.c_proj.bias"] * l_ff[:C]
    return GPT2(model.config, params, source=model.source + " + merged IA³", name=model.name)


MISTAKES = (
    Mistake("edited in place", "merge changed the model's own arrays: `params = dict(model.params)` copies the "
            "dict, not the arrays, so `params[k] *= s` changes model.params[k] too. Write "
            "`params[k] = model.params[k] * s`", lambda model, ia3: _merge(model, ia3, in_place=True)),
    Mistake("c_attn bias unscaled", "c_attn's bias is unscaled: l ⊙ (x W + b) scales the bias too",
            lambda model, ia3: _merge(model, ia3, bias=False)),
    Mistake("c_proj bias scaled", "mlp.c_proj's bias was scaled: l_ff scales c_proj's input, and b2 is added "
            "after the product, so it stays", lambda model, ia3: _merge(model, ia3, c_proj_bias=True)),
    Mistake("c_proj columns scaled", "W2 * l_ff scales mlp.c_proj's columns (or fails to broadcast): l_ff "
            "scales c_proj's INPUT, one hidden unit per row of W2 (F, C): W2 * l_ff[:, None]",
            lambda model, ia3: _merge(model, ia3, rows=False)),
    Mistake("l_k and l_v swapped", "l_k and l_v are swapped: c_attn's columns are q | k | v, so [C:2C] are the "
            "keys (× l_k) and [2C:3C] the values (× l_v)", lambda model, ia3: _merge(model, ia3, swap=True)),
)


def check_merge(ex: Exercise, fn, report: Report, seed: int, path) -> None:
    rng = np.random.default_rng(seed)
    model = tiny_model(rng, n_layer=2)
    C = model.config.n_embd
    ia3 = IA3.random(model, std=0.5, seed=int(rng.integers(1 << 30)))
    ids = rng.integers(0, model.config.vocab_size, (2, 6))
    params_before = {k: v.copy() for k, v in model.params.items()}
    ia3_before = ia3.copy()
    expected_logits = model.logits(ids, ia3)
    fresh = lambda: (GPT2(model.config, {k: v.copy() for k, v in params_before.items()}, model.source,  # noqa: E731
                          model.name), ia3_before.copy())
    reference = merge(*fresh())
    report.add("", f"a random GPT-2 with {model.config.n_layer} blocks, C={C}, F={model.config.n_inner}; "
                   f"l_k, l_v, l_ff = 1 + 0.5·N(0, 1); 2 sequences of 6 tokens; float64")

    ok, merged = call(ex, fn, (model, ia3), {}, report, path, _MergeCase(fresh))
    if not ok:
        return
    # (a) a model with the same weights' names, shapes and dtypes, inputs untouched
    if not isinstance(merged, GPT2):
        report.add("FAIL", f"merge should return a tinyia3 GPT2 model; it returned "
                           f"{'None (is there a `return`?)' if merged is None else type(merged).__name__}",
                   "Build it from the new weights: GPT2(model.config, params, source=..., name=model.name).")
        return
    changed = [k for k in params_before if not np.array_equal(model.params[k], params_before[k])]
    changed_ia3 = [k for k, v in ia3.named().items() if not np.array_equal(v, ia3_before.named()[k])]
    if changed or changed_ia3:
        report.mistake = MISTAKES[0].tag
        report.add("FAIL", "merge changed its inputs in place: " + ", ".join((changed + changed_ia3)[:4]),
                   f"This is a known mistake ({MISTAKES[0].tag}): {MISTAKES[0].message}; the adapter must not "
                   "change either.")
        return
    missing = sorted(set(params_before) - set(merged.params))
    extra = sorted(set(merged.params) - set(params_before))
    if missing or extra:
        report.add("FAIL", "the merged model's weights are not the original's names",
                   f"missing: {', '.join(missing[:4])}" if missing else "",
                   f"unexpected: {', '.join(extra[:4])}" if extra else "",
                   "Start from a copy of every weight, `params = dict(model.params)`, and replace only the "
                   "scaled ones under the same names.")
        return
    for k, e in reference.params.items():
        g = merged.params[k]
        if not isinstance(g, np.ndarray) or g.shape != e.shape or g.dtype != e.dtype:
            report.add("FAIL", f"{k}: expected an array {shape_text(e)} {e.dtype}, got "
                               f"{shape_text(g) + ' ' + str(g.dtype) if isinstance(g, np.ndarray) else type(g).__name__}",
                       "Scaling must keep each weight's shape: multiply by a vector along the right axis "
                       "(w * l for columns, w * l[:, None] for rows).")
            return
    report.add("ok", "returns a new GPT2 with the same weight names, shapes and dtypes; inputs untouched")

    # (b) what the merged model computes, and (c) every weight against the reference
    err = rel_error(merged.logits(ids), expected_logits)
    report.add("", f"  {'check':<58} {'rel. error':>10}")
    report.add("", f"  {'logits: merged model vs model with the adapter':<58} {err:>10.2e}  "
                   f"{'ok' if err < TOLERANCE_F64 else 'WRONG'}")
    bad = []
    for k in reference.params:
        e = rel_error(merged.params[k], reference.params[k])
        if e >= TOLERANCE_F64:
            bad.append(k)
            report.add("", f"  {k + ' vs ' + ex.reference_name:<58} {e:>10.2e}  WRONG")
    if not bad:
        report.add("", f"  {'every weight vs ' + ex.reference_name:<58} {0.0:>10.2e}  ok")
    if err < TOLERANCE_F64 and not bad:
        report.add("ok", "the merged model computes what the model with its adapter computes, "
                         "and every weight equals the reference's")
        return
    title = (f"the merged model computes something else: logits relative error {err:.2g}" if err >= TOLERANCE_F64
             else "the merged model computes the right logits, but some weights differ from the reference")
    mistake = _known_merge(merged, fresh)
    if mistake is not None:
        report.mistake = mistake.tag
        report.add("FAIL", title, f"This is a known mistake ({mistake.tag}): {mistake.message}.")
        return
    report.add("FAIL", title, *_merge_diagnosis(bad, merged, model, ia3, reference, C),
               f"`tinyia3 check merge --hint` gives hint 1 of {len(ex.hints)}.")


class _MergeCase:
    """What call() needs to run the known mistakes on fresh copies of the inputs."""

    def __init__(self, fresh):
        self.fresh, self.kwargs = fresh, {}

    @property
    def args(self):
        return self.fresh()

    def __deepcopy__(self, memo):
        return self


def _known_merge(merged, fresh):
    for mistake in MISTAKES[1:]:  # editing in place is seen directly
        try:
            wrong = mistake.fn(*fresh())
        except Exception:  # noqa: BLE001 - this mistake fails on these inputs: not this answer
            continue
        if all(rel_error(merged.params[k], w) < MATCH for k, w in wrong.params.items()):
            return mistake
    return None


def _merge_diagnosis(bad, merged, model, ia3, reference, C) -> list[str]:
    lines = []
    for k in bad[:4]:
        g, orig, e = merged.params[k], model.params[k], reference.params[k]
        i = int(k.split(".")[1]) if k.startswith("h.") else None
        if k.endswith("mlp.c_proj.weight"):
            if np.array_equal(g, orig):
                lines.append(f"{k} is unchanged: fold l_ff into it.")
            elif rel_error(g, orig * ia3.l_ff[i][:, None] ** 2) < MATCH:
                lines.append(f"{k} was scaled twice by l_ff.")
            else:
                lines.append(f"{k}: one scale per hidden unit, and W2 is (F, C).")
        elif k.endswith("attn.c_attn.weight") or k.endswith("attn.c_attn.bias"):
            for s, label in ((slice(0, C), "query"), (slice(C, 2 * C), "key"), (slice(2 * C, 3 * C), "value")):
                if rel_error(g[..., s], e[..., s]) >= TOLERANCE_F64:
                    lines.append(f"{k}: the {label} columns [{s.start}:{s.stop}] are wrong"
                                 + (": the paper's IA³ does not scale queries, leave them as they are."
                                    if label == "query" else f": they are scaled by l_{label[0]}."))
        elif k.startswith("h."):
            lines.append(f"{k} was changed: only attn.c_attn (weight and bias) and mlp.c_proj.weight change.")
        else:
            lines.append(f"{k} was changed: embeddings and ln_f are not touched by IA³.")
    if len(bad) > 4:
        lines.append(f"… and {len(bad) - 4} more weights differ.")
    return lines


EXERCISES = (
    Exercise(
        "merge", 7, 20, "fold an IA³ adapter into the weights so inference costs nothing extra",
        "lesson 6 (inhibit and amplify)", merge, ("model",), None, MISTAKES,
        ("Each scale multiplies the output of a linear layer or the input of one. Write both as matrix "
         "products with diag(l) and move diag(l) into the weight.",
         "c_attn computes q | k | v side by side: which of its columns does l_k multiply, which l_v? Does its "
         "bias pass through the scale?",
         "l_ff multiplies c_proj's input h: (l_ff ⊙ h) W2 = h (diag(l_ff) W2). diag(l) on the left scales "
         "rows; is c_proj's bias inside the product?",
         "Build new arrays (`params[k] = model.params[k] * s`), never `*=`: `dict(model.params)` does not copy "
         "the arrays. A vector scales columns as W * s and rows as W * l[:, None]."),
        checker=check_merge, gradient=False,
    ),
)
