"""Exercises: every shipped stub fails loudly, every reference passes, known mistakes are named.

Run one exercise's tests with `pytest tests/test_exercises.py -k layer_norm_backward`.
These tests check the stubs as shipped: after editing lessons/exercises/ in place, the
"stub fails" tests fail too (restore with `git checkout -- lessons/exercises/`).
"""

import inspect
import re
import shutil
import sys
import textwrap

import numpy as np
import pytest

from tinyia3 import exercises
from tinyia3.cli import main
from tinyia3.exercises import data_quality
from tinyia3.model import L_FF, block_backward

NAMES = list(exercises.EXERCISES)
MISTAKES = [(name, m.tag) for name, ex in exercises.EXERCISES.items() for m in ex.mistakes]


def write(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


# -- the registry and the stubs -----------------------------------------------------------------


def test_the_registry_has_an_exercise_for_every_lesson_and_at_least_twelve():
    assert len(NAMES) >= 12
    assert {ex.lesson for ex in exercises.EXERCISES.values()} == set(range(1, 12))
    assert {"layer_norm_backward", "attention_backward", "ia3_scale_backward", "l_ff_gradient",
            "merge", "gelu_backward"} <= set(NAMES)  # the first six, still there
    for ex in exercises.EXERCISES.values():
        assert ex.stub_path.is_file(), ex.stub_path
        assert 0 < ex.minutes <= 60 and ex.goal and ex.prerequisites
        assert len(ex.mistakes) >= 3, ex.name
        assert len({m.tag for m in ex.mistakes}) == len(ex.mistakes), ex.name
        assert len(ex.hints) >= 3, ex.name


@pytest.mark.parametrize("name", NAMES)
def test_stub_signature_is_exactly_the_reference_signature(name):
    ex = exercises.EXERCISES[name]
    stub = exercises.load_function(ex.stub_path, name)

    def described(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert described(stub) == described(ex.reference)
    for mistake in ex.mistakes[:1]:  # the wrong implementations are called the same way
        inspect.signature(mistake.fn).bind(*[None] * len(inspect.signature(ex.reference).parameters))


@pytest.mark.parametrize("name", NAMES)
def test_stub_raises_a_not_implemented_error_that_names_exercise_lesson_and_command(name):
    ex = exercises.EXERCISES[name]
    source = ex.stub_path.read_text(encoding="utf-8")
    assert f'"Exercise {name} (lesson {ex.lesson}): implement' in source
    assert f"check with `tinyia3 check {name}`" in source
    assert f"tinyia3 check {name} --solution" in source  # the docstring says how to see a passing run
    assert f"tinyia3 check {name} --hint      ({len(ex.hints)} tiers" in source  # and where the hints are


# What a stub's docstring must not contain: the result of the derivation it asks for.
GIVEAWAYS = {
    "gelu_backward": ["1 − t²", "1 - t*t", "du/dx    =", "0.5 · (1 + t) +"],
    "ia3_scale_backward": ["dout[..., n] · l[n]", "dout[..., n] · x[..., n]", "reshape(-1, N).sum"],
    "layer_norm_backward": ["dxhat = dout", "mean_j(dxhat", "rstd · ("],
    "l_ff_gradient": ["dx W2ᵀ", "Σ_{b,t} dh"],
    "attention_backward": ["attᵀ dy", "dy vᵀ", "Σ_j att_j", "dscoresᵀ q", "dscores k"],
    "merge": ["W diag(l)", "diag(l_ff) W2", "[:, None]", "× l_k", "× l_v"],
    "embed": ["wte[ids]", "wpe[np.arange", "arange(T)"],
    "causal_attention": ["q kᵀ", "sqrt(D)", "softmax(q"],
    "adapter_sizes": ["2C + F", "2 * C", "r·(", "3C"],
    "adam_step": ["1 − β", "1 - beta", "m / (", "β1 m"],
    "logit_lens": ["w.mean", "w − mean", "g ⊙", "wte @"],
    "training_bytes": ["12", "3 ×", "× 4", "* 4"],
    "lora_backward": ["uᵀ", "Bᵀ", "Aᵀ", "xᵀ"],
    "per_sequence_scale_backward": ["sum(axis=1", "Σ_t", "dout · x", "dout[b, t, n] ·"],
    "find_duplicates": ["setdefault", ".lower()", "split()"],
}


@pytest.mark.parametrize("name", NAMES)
def test_a_stub_asks_for_the_derivations_result_without_writing_it(name):
    ex = exercises.EXERCISES[name]
    doc = ex.stub_path.read_text(encoding="utf-8").split('"""')[1]
    found = [g for g in GIVEAWAYS[name] if g in doc]
    assert not found, f"{ex.stub_path.name}'s docstring gives away {found}"


@pytest.mark.parametrize("name", NAMES)
def test_shipped_stub_fails_with_not_done_yet_and_exit_code_1(name, capsys):
    assert main(["check", name]) == 1
    out = capsys.readouterr().out
    assert "not done yet" in out and "NotImplementedError" in out
    assert f"lessons/exercises/{name}.py" in out and "NOT PASSED" in out
    assert f"tinyia3 check {name} --solution" in out and f"tinyia3 check {name} --hint" in out


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes_with_exit_code_0(name, capsys):
    assert main(["check", name, "--solution"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "NOT PASSED" not in out and "FAIL" not in out
    assert exercises.EXERCISES[name].reference_name in out


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes_at_other_seeds(name):
    for seed in (1, 2):
        report = exercises.check(name, solution=True, seed=seed)
        assert report.passed and report.outcome == "pass", report.text()


def test_l_ff_reference_is_what_the_model_backward_computes():
    case = exercises.EXERCISES["l_ff_gradient"].cases(np.random.default_rng(0))[0]
    dx, bc = case.args
    sites = {name: cache.l for name, cache in bc.sites.items()}  # the IA³ vectors the forward used
    _, grads = block_backward(dx, bc, sites, stop=L_FF)  # stop right after l_ff
    assert set(grads) == {"l_ff"}
    np.testing.assert_array_equal(exercises.l_ff_gradient(dx, bc), grads["l_ff"])


def test_the_data_quality_reference_finds_what_its_first_case_plants():
    exact, near, overlap = data_quality.find_duplicates(data_quality.TRAIN, data_quality.HELDOUT)
    assert exact.tolist() == [[0, 2], [0, 4]] and near.tolist() == [[1, 3], [1, 6]]
    assert overlap.tolist() == [1, 2, 3] and exact.dtype == near.dtype == overlap.dtype == np.int64
    none = data_quality.find_duplicates(["a", "b"], ["c"])
    assert [a.shape for a in none] == [(0, 2), (0, 2), (0,)]


# Bodies a student writes (from the derivation, not from the docstring): each completed stub passes.
STUDENT_SOLUTIONS = {
    "gelu_backward": """
        du = math.sqrt(2.0 / math.pi) * (1.0 + 3.0 * 0.044715 * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    """,
    "ia3_scale_backward": """
        N = x.shape[-1]
        return dout * l, (dout * x).reshape(-1, N).sum(axis=0)
    """,
    "layer_norm_backward": """
        dxhat = dout * g
        mean = lambda a: a.mean(axis=-1, keepdims=True)
        return rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    """,
    "l_ff_gradient": """
        dh = dx @ w2.T
        return (dh * a).reshape(-1, a.shape[-1]).sum(axis=0)
    """,
    "attention_backward": """
        dv = att.swapaxes(-1, -2) @ dy
        datt = dy @ v.swapaxes(-1, -2)
        dscores = att * (datt - (att * datt).sum(axis=-1, keepdims=True)) * (1.0 / math.sqrt(q.shape[-1]))
        return (dscores @ k if need_dq else None), dscores.swapaxes(-1, -2) @ q, dv
    """,
    "merge": """
        C = model.config.n_embd
        params = dict(model.params)
        for i in range(model.config.n_layer):
            l = ia3.layer(i)
            s = np.concatenate([np.ones(C), l["l_k"], l["l_v"]])
            for name in ("attn.c_attn.weight", "attn.c_attn.bias"):
                params[f"h.{i}.{name}"] = model.params[f"h.{i}.{name}"] * s
            params[f"h.{i}.mlp.c_proj.weight"] = model.params[f"h.{i}.mlp.c_proj.weight"] * l["l_ff"][:, None]
        return tinyia3.GPT2(model.config, params, source=model.source + " + merged IA³", name=model.name)
    """,
    "embed": """
        return wte[ids] + wpe[np.arange(ids.shape[-1])]
    """,
    "causal_attention": """
        scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])
        scores = np.where(allowed, scores, -1e30)
        att = np.exp(scores - scores.max(axis=-1, keepdims=True))
        att = att / att.sum(axis=-1, keepdims=True)
        att = np.where(allowed.any(axis=-1, keepdims=True), att, 0.0)
        return att @ v
    """,
    "adapter_sizes": """
        L, C, F = config.n_layer, config.n_embd, config.n_inner
        return L * (2 * C + F), L * r * (C + 3 * C)
    """,
    "adam_step": """
        m = beta1 * m + (1.0 - beta1) * grad
        v = beta2 * v + (1.0 - beta2) * grad * grad
        m_hat, v_hat = m / (1.0 - beta1 ** t), v / (1.0 - beta2 ** t)
        return l - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    """,
    "logit_lens": """
        return wte @ (g * (w - w.mean()))
    """,
    "training_bytes": """
        ia3 = config.n_layer * (2 * config.n_embd + config.n_inner)
        return 12 * config.num_parameters(), 12 * ia3
    """,
    "lora_backward": """
        r, n_out = b.shape
        d2 = dout.reshape(-1, n_out)
        db = scaling * (xa.reshape(-1, r).T @ d2)
        du = scaling * (d2 @ b.T)
        da = x.reshape(-1, x.shape[-1]).T @ du
        return ((du @ a.T).reshape(x.shape) if need_dx else None), da, db
    """,
    "per_sequence_scale_backward": """
        return dout * l, (dout * x).sum(axis=1, keepdims=True)
    """,
    "find_duplicates": """
        key = lambda s: " ".join(s.lower().split())
        first, first_key, exact, near = {}, {}, [], []
        for j, s in enumerate(train):
            if s in first:
                exact.append((first[s], j))
            elif key(s) in first_key:
                near.append((first_key[key(s)], j))
            first.setdefault(s, j)
            first_key.setdefault(key(s), j)
        overlap = [h for h, s in enumerate(heldout) if key(s) in first_key]
        pairs = lambda p: np.array(p, dtype=np.int64).reshape(-1, 2)
        return pairs(exact), pairs(near), np.array(overlap, dtype=np.int64)
    """,
}


def completed_stub(name, folder):
    """The shipped stub with its `raise NotImplementedError(...)` replaced by a student's body."""
    stub = exercises.EXERCISES[name].stub_path.read_text(encoding="utf-8")
    raise_block = re.search(r"    raise NotImplementedError\(\n(.*\n)*?    \)\n", stub)
    body = textwrap.indent(textwrap.dedent(STUDENT_SOLUTIONS[name]).strip() + "\n", "    ")
    path = folder / f"{name}.py"
    path.write_text(stub[:raise_block.start()] + body + stub[raise_block.end():], encoding="utf-8")
    return path


def test_every_exercise_has_a_student_solution():
    assert set(STUDENT_SOLUTIONS) == set(NAMES) == set(GIVEAWAYS)


@pytest.mark.parametrize("name", NAMES)
def test_the_stub_completed_by_a_student_passes(name, tmp_path, capsys):
    path = completed_stub(name, tmp_path)
    assert main(["check", name, "--file", str(path)]) == 0, capsys.readouterr().out
    assert "PASSED" in capsys.readouterr().out


# -- known mistakes are named -------------------------------------------------------------------


@pytest.mark.parametrize("name, tag", MISTAKES)
def test_every_known_mistake_is_named_as_itself(name, tag):
    """Each wrong implementation, checked as a student's function would be, gets its own name."""
    mistake = next(m for m in exercises.EXERCISES[name].mistakes if m.tag == tag)
    report = exercises.check_function(name, mistake.fn, 0, "a known mistake")
    assert not report.passed and report.outcome == "mistake" and report.mistake == tag, report.text()
    text = report.text()
    assert f"known mistake ({tag})" in text and mistake.message in " ".join(text.split())


def test_a_layer_norm_sign_flip_and_a_wrong_axis_are_named_not_called_a_missing_factor(tmp_path, capsys):
    for source, tag in (
        ("return rstd * (d + d.mean(axis=-1, keepdims=True) - xhat * (d * xhat).mean(axis=-1, keepdims=True))",
         "mean term's sign"),
        ("return rstd * (d - d.mean(axis=-1, keepdims=True) + xhat * (d * xhat).mean(axis=-1, keepdims=True))",
         "variance term's sign"),
        ("return rstd * (d - d.mean(axis=0, keepdims=True) - xhat * (d * xhat).mean(axis=0, keepdims=True))",
         "means over axis 0"),
    ):
        path = write(tmp_path, "layer_norm_backward", f"""
            def layer_norm_backward(dout, cache):
                xhat, rstd, g = cache
                d = dout * g
                {source}
        """)
        assert main(["check", "layer_norm_backward", "--file", path]) == 1
        out = capsys.readouterr().out
        assert f"known mistake ({tag})" in out and "factor" not in out, out


def test_attention_att_T_is_named_instead_of_a_shape_error_and_a_transpose_guess(tmp_path, capsys):
    path = write(tmp_path, "attention_backward", """
        import math
        def attention_backward(dy, cache, need_dq=True):
            q, k, v, att = cache
            dv = att.T @ dy
            datt = dy @ v.swapaxes(-1, -2)
            ds = att * (datt - (datt * att).sum(axis=-1, keepdims=True)) / math.sqrt(q.shape[-1])
            return (ds @ k if need_dq else None), ds.swapaxes(-1, -2) @ q, dv
    """)
    assert main(["check", "attention_backward", "--file", path]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "line 5 of your file: dv = att.T @ dy" in out
    assert "known mistake (att.T on 4-D)" in out and "reverses all four axes" in out and "swapaxes(-1, -2)" in out
    assert "a weight may need a transpose" not in out


def test_an_unknown_wrong_answer_gets_the_size_and_points_to_the_hints(tmp_path, capsys):
    path = write(tmp_path, "layer_norm_backward", """
        def layer_norm_backward(dout, cache):
            xhat, rstd, g = cache
            d = dout * g
            return rstd * (d - 0.9 * d.mean(axis=-1, keepdims=True) - xhat * (d * xhat).mean(axis=-1, keepdims=True))
    """)
    assert main(["check", "layer_norm_backward", "--file", path]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "dx is wrong: relative error" in out and "An error of this size suggests" in out
    assert "none of the mistakes the checker knows" in out and "tinyia3 check layer_norm_backward --hint" in out


def test_ia3_scale_backward_without_l_is_caught_although_it_is_right_at_l_1(tmp_path, capsys):
    path = write(tmp_path, "ia3_scale_backward", """
        def ia3_scale_backward(dout, cache):
            x, l = cache
            N = x.shape[-1]
            return dout.copy(), (dout * x).reshape(-1, N).sum(axis=0)
    """)
    assert main(["check", "ia3_scale_backward", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "dx is wrong" in out and "forgot to multiply by l" in out


def test_ia3_scale_backward_summing_axis_0_is_named_with_the_way_out(tmp_path, capsys):
    path = write(tmp_path, "ia3_scale_backward", """
        def ia3_scale_backward(dout, cache):
            x, l = cache
            return dout * l, (dout * x).sum(axis=0)
    """)
    assert main(["check", "ia3_scale_backward", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "known mistake (dl sums axis 0 only)" in out and "reshape(-1, N)" in out


def test_attention_without_the_scale_is_named(tmp_path, capsys):
    path = write(tmp_path, "attention_backward", """
        def attention_backward(dy, cache, need_dq=True):
            q, k, v, att = cache
            dv = att.swapaxes(-1, -2) @ dy
            datt = dy @ v.swapaxes(-1, -2)
            ds = att * (datt - (datt * att).sum(axis=-1, keepdims=True))
            return (ds @ k if need_dq else None), ds.swapaxes(-1, -2) @ q, dv
    """)
    assert main(["check", "attention_backward", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "dq, dk are wrong: this is a known mistake (no 1/sqrt(D))" in out and "5.00e-01" in out


def test_a_shape_error_in_student_code_is_reported_with_its_line(tmp_path, capsys):
    path = write(tmp_path, "l_ff_gradient", """
        def l_ff_gradient(dx, bc):
            _, w2 = bc.mlp_c_proj
            a, l_ff = bc.sites["l_ff"]
            dh = dx @ w2
            return (dh * a).sum(axis=(0, 1))
    """)
    assert main(["check", "l_ff_gradient", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "raised ValueError" in out and "line 5 of your file: dh = dx @ w2" in out
    assert "known mistake (W2 untransposed)" in out and "transpose" in out


def test_an_unknown_shape_error_gets_the_general_hint(tmp_path, capsys):
    path = write(tmp_path, "lora_backward", """
        def lora_backward(dout, cache, need_dx=True):
            x, xa, a, b, scaling = cache
            return None, x @ b, a
    """)
    assert main(["check", "lora_backward", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "raised ValueError" in out and ".T reverses ALL of them" in out and "known mistake" not in out


def test_changing_an_input_in_place_fails(tmp_path, capsys):
    path = write(tmp_path, "gelu_backward", """
        import math
        def gelu_backward(dout, cache):
            x, t = cache
            du = math.sqrt(2.0 / math.pi) * (1.0 + 3.0 * 0.044715 * x * x)
            dout *= 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
            return dout
    """)
    assert main(["check", "gelu_backward", "--file", path]) == 1
    assert "changed its inputs in place: dout" in capsys.readouterr().out


def test_an_adam_step_that_updates_its_moments_in_place_fails(tmp_path, capsys):
    path = write(tmp_path, "adam_step", """
        import numpy as np
        def adam_step(l, grad, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8):
            m *= beta1; m += (1.0 - beta1) * grad
            v *= beta2; v += (1.0 - beta2) * grad * grad
            return l - lr * (m / (1.0 - beta1 ** t)) / (np.sqrt(v / (1.0 - beta2 ** t)) + eps), m, v
    """)
    assert main(["check", "adam_step", "--file", path]) == 1
    assert "changed its inputs in place: m" in capsys.readouterr().out


def test_a_count_returned_as_a_float_is_refused_by_name(tmp_path, capsys):
    path = write(tmp_path, "adapter_sizes", """
        def adapter_sizes(config, r):
            L, C, F = config.n_layer, config.n_embd, config.n_inner
            return L * (2 * C + F) / 1, L * r * 4 * C
    """)
    assert main(["check", "adapter_sizes", "--file", path]) == 1
    assert "ia3 should be a whole number (an int); you returned float" in capsys.readouterr().out


def write_merge(tmp_path, loop_body):
    """A student's merge whose loop over the blocks has this body (s: c_attn's column scales)."""
    return write(tmp_path, "merge", """
        import numpy as np
        import tinyia3
        def merge(model, ia3):
            C = model.config.n_embd
            params = dict(model.params)
            for i in range(model.config.n_layer):
                s = np.concatenate([np.ones(C), ia3.l_k[i], ia3.l_v[i]])
    """ + textwrap.indent(textwrap.dedent(loop_body), " " * 16) + """
            return tinyia3.GPT2(model.config, params, name=model.name)
    """)


def test_a_merge_that_edits_the_model_in_place_is_named(tmp_path, capsys):
    path = write_merge(tmp_path, """
        params[f"h.{i}.attn.c_attn.weight"] *= s
        params[f"h.{i}.attn.c_attn.bias"] *= s
        params[f"h.{i}.mlp.c_proj.weight"] *= ia3.l_ff[i][:, None]
    """)
    assert main(["check", "merge", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "changed its inputs in place" in out and "known mistake (edited in place)" in out


def test_a_merge_that_forgets_the_bias_is_named(tmp_path, capsys):
    path = write_merge(tmp_path, """
        params[f"h.{i}.attn.c_attn.weight"] = params[f"h.{i}.attn.c_attn.weight"] * s
        params[f"h.{i}.mlp.c_proj.weight"] = params[f"h.{i}.mlp.c_proj.weight"] * ia3.l_ff[i][:, None]
    """)
    assert main(["check", "merge", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "logits relative error" in out and "known mistake (c_attn bias unscaled)" in out


def test_an_unknown_wrong_merge_names_the_weight(tmp_path, capsys):
    path = write_merge(tmp_path, """
        for part in ("weight", "bias"):
            params[f"h.{i}.attn.c_attn.{part}"] = params[f"h.{i}.attn.c_attn.{part}"] * s
    """)
    assert main(["check", "merge", "--file", path]) == 1
    assert "h.0.mlp.c_proj.weight is unchanged" in capsys.readouterr().out


def test_a_correct_student_copy_passes_and_a_float32_promotion_is_only_a_note(tmp_path, capsys):
    path = write(tmp_path, "my_gelu", """
        import numpy as np
        def gelu_backward(dout, cache):
            x, t = cache
            du = np.sqrt(2 / np.pi) * (1.0 + 3.0 * 0.044715 * x * x)
            return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    """)
    assert main(["check", "gelu_backward", "--file", path]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "note" in out and "float64" in out


def test_a_syntax_error_and_a_renamed_argument_are_explained(tmp_path, capsys):
    path = write(tmp_path, "broken", "def gelu_backward(dout, cache)\n    return dout\n")
    assert main(["check", "gelu_backward", "--file", path]) == 1
    assert "cannot be loaded: SyntaxError" in capsys.readouterr().out
    path = write(tmp_path, "renamed", "def gelu_backward(grad, cache):\n    return grad\n")
    assert main(["check", "gelu_backward", "--file", path]) == 1
    assert "takes (grad, cache), the package's takes (dout, cache)" in capsys.readouterr().out


def test_loading_student_code_leaves_sys_path_and_sys_modules_alone():
    path, modules = list(sys.path), set(sys.modules)
    exercises.check("gelu_backward")
    assert sys.path == path and not any(m.startswith("tinyia3_exercise_") for m in set(sys.modules) - modules)


# -- hints in tiers -------------------------------------------------------------------------------


def test_hints_come_in_tiers_and_say_how_many_there_are(capsys):
    ex = exercises.EXERCISES["layer_norm_backward"]
    assert main(["check", "layer_norm_backward", "--hint"]) == 0
    out = capsys.readouterr().out
    assert f"hint 1 of {len(ex.hints)}" in out and "--hint 2" in out and ex.hints[0][:40] in " ".join(out.split())
    assert main(["check", "layer_norm_backward", "--hint", str(len(ex.hints))]) == 0
    out = capsys.readouterr().out
    assert f"hint {len(ex.hints)} of {len(ex.hints)}" in out and "last hint" in out
    assert main(["check", "layer_norm_backward", "--hint", str(len(ex.hints) + 1)]) == 2
    assert f"it has {len(ex.hints)} hints" in capsys.readouterr().err


def test_every_hint_tier_differs_and_is_shown(capsys):
    for name, ex in exercises.EXERCISES.items():
        assert len(set(ex.hints)) == len(ex.hints), name
        for tier in range(1, len(ex.hints) + 1):
            assert exercises.hint_text(name, tier).startswith(f"{name}, hint {tier} of {len(ex.hints)}:")


# -- a whole class: check --all --------------------------------------------------------------------


def test_check_all_prints_a_class_table_with_every_outcome(tmp_path, capsys):
    cls = tmp_path / "class"
    for name in NAMES:  # ada: every exercise solved, in the layout `tinyia3 lessons` makes
        (cls / "ada" / "exercises").mkdir(parents=True, exist_ok=True)
        completed_stub(name, cls / "ada" / "exercises")
    (cls / "bo").mkdir()
    completed_stub("embed", cls / "bo")
    shutil.copy(exercises.EXERCISES["gelu_backward"].stub_path, cls / "bo")  # untouched stub
    write(cls / "bo", "logit_lens", "def logit_lens(w, g, wte):\n    return wte @ (g * w)\n")  # a known mistake
    write(cls / "bo", "adam_step", "def adam_step(l, grad, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8):\n"
                                   "    return l, m, v\n")  # wrong, not a known mistake
    write(cls / "bo", "training_bytes", "def training_bytes(config)\n")  # cannot be loaded
    assert main(["check", "--all", str(cls)]) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split()[:1] in (["ada"], ["bo"]) and len(line.split()) == len(NAMES) + 1}
    assert rows["ada"] == ["pass"] * len(NAMES)
    bo = dict(zip(NAMES, rows["bo"]))
    assert (bo["embed"], bo["gelu_backward"], bo["logit_lens"], bo["adam_step"], bo["training_bytes"]) == \
        ("pass", "todo", "mistake", "wrong", "error")
    assert sum(v == "missing" for v in bo.values()) == len(NAMES) - 5
    assert re.search(r"bo\s+logit_lens\s+not centred", out)
    assert "passed" in out and "2 students" in out


def test_check_all_on_one_students_folder_that_passes_exits_0(tmp_path, capsys):
    mine = tmp_path / "me"
    mine.mkdir()
    for name in NAMES:
        completed_stub(name, mine)
    assert main(["check", "--all", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "1 students" in out and "named mistakes" not in out
    assert next(line for line in out.splitlines() if line.startswith("me ")).split()[1:] == ["pass"] * len(NAMES)


def test_check_all_refuses_a_folder_without_exercises_and_other_options(tmp_path, capsys):
    assert main(["check", "--all", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["check", "--all", str(tmp_path)]) == 2
    assert "holds no exercise file" in capsys.readouterr().err
    assert main(["check", "gelu_backward", "--all", str(tmp_path)]) == 2
    assert "give no exercise name" in capsys.readouterr().err


# -- the command line -------------------------------------------------------------------------


def test_list_shows_every_exercise_with_lesson_minutes_hints_and_goal(capsys):
    assert main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    for ex in exercises.EXERCISES.values():
        line = next(row for row in out.splitlines() if row.startswith(ex.name + " "))
        assert f" {ex.lesson} " in line and f" {ex.minutes} " in line and ex.goal in line
        assert f" {len(ex.hints)} " in line


def test_an_unknown_name_is_a_clear_error_listing_the_valid_names(capsys):
    assert main(["check", "layernorm_backward"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyia3 check: error: There is no exercise called 'layernorm_backward'")
    assert "Did you mean 'layer_norm_backward'?" in err and all(name in err for name in NAMES)


def test_no_name_and_a_missing_file_are_clear_errors(capsys, tmp_path):
    assert main(["check"]) == 2
    assert "name the exercise to check" in capsys.readouterr().err
    assert main(["check", "merge", "--file", str(tmp_path / "nope.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["check", "merge", "--file", str(tmp_path / "nope.py"), "--solution"]) == 2


def test_check_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(option in out for option in ("--solution", "--file", "--list", "--hint", "--all"))
