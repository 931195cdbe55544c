"""Exercises: every shipped stub fails loudly, every reference passes, wrong answers are explained.

Run one exercise's tests with `pytest tests/test_exercises.py -k layer_norm_backward`.
These tests check the stubs as shipped: after editing lessons/exercises/ in place, the
"stub fails" tests fail too (restore with `git checkout -- lessons/exercises/`).
"""

import inspect
import re
import sys
import textwrap

import numpy as np
import pytest

from tinyia3 import exercises
from tinyia3.cli import main
from tinyia3.model import L_FF, block_backward

NAMES = list(exercises.EXERCISES)


def write(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


# -- the registry and the stubs -----------------------------------------------------------------


def test_the_registry_has_the_exercises_the_lessons_promise():
    assert {"layer_norm_backward", "attention_backward", "ia3_scale_backward", "l_ff_gradient",
            "merge", "gelu_backward"} <= set(NAMES)
    for ex in exercises.EXERCISES.values():
        assert ex.stub_path.is_file(), ex.stub_path
        assert ex.lesson in (1, 2, 3, 6, 7) and 0 < ex.minutes <= 60 and ex.goal and ex.prerequisites


@pytest.mark.parametrize("name", NAMES)
def test_stub_signature_is_exactly_the_reference_signature(name):
    ex = exercises.EXERCISES[name]
    stub = exercises.load_function(ex.stub_path, name)

    def described(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert described(stub) == described(ex.reference)


@pytest.mark.parametrize("name", NAMES)
def test_stub_raises_a_not_implemented_error_that_names_exercise_lesson_and_command(name):
    ex = exercises.EXERCISES[name]
    source = ex.stub_path.read_text(encoding="utf-8")
    assert f'"Exercise {name} (lesson {ex.lesson}): implement' in source
    assert f"check with `tinyia3 check {name}`" in source
    assert f"tinyia3 check {name} --solution" in source  # the docstring says how to see a passing run


@pytest.mark.parametrize("name", NAMES)
def test_shipped_stub_fails_with_not_done_yet_and_exit_code_1(name, capsys):
    assert main(["check", name]) == 1
    out = capsys.readouterr().out
    assert "not done yet" in out and "NotImplementedError" in out
    assert f"lessons/exercises/{name}.py" in out and "NOT PASSED" in out
    assert f"tinyia3 check {name} --solution" in out


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes_with_exit_code_0(name, capsys):
    assert main(["check", name, "--solution"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "NOT PASSED" not in out and "FAIL" not in out
    assert exercises.EXERCISES[name].reference_name in out


@pytest.mark.parametrize("name", [n for n in NAMES if exercises.EXERCISES[n].checker is None])
def test_reference_solution_passes_at_other_seeds(name):
    for seed in (1, 2):
        assert exercises.check(name, solution=True, seed=seed).passed


def test_l_ff_reference_is_what_the_model_backward_computes():
    case = exercises.EXERCISES["l_ff_gradient"].cases(np.random.default_rng(0))[0]
    dx, bc = case.args
    sites = {name: cache.l for name, cache in bc.sites.items()}  # the IA³ vectors the forward used
    _, grads = block_backward(dx, bc, sites, stop=L_FF)  # stop right after l_ff
    assert set(grads) == {"l_ff"}
    np.testing.assert_array_equal(exercises.l_ff_gradient(dx, bc), grads["l_ff"])


# Bodies written from each stub's docstring alone: the docstrings' equations must be enough.
DOCSTRING_SOLUTIONS = {
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
}


def test_every_exercise_has_a_docstring_solution():
    assert set(DOCSTRING_SOLUTIONS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_stub_completed_from_its_docstring_passes(name, tmp_path, capsys):
    stub = exercises.EXERCISES[name].stub_path.read_text(encoding="utf-8")
    raise_block = re.search(r"    raise NotImplementedError\(\n(.*\n)*?    \)\n", stub)
    body = textwrap.indent(textwrap.dedent(DOCSTRING_SOLUTIONS[name]).strip() + "\n", "    ")
    path = tmp_path / f"{name}.py"
    path.write_text(stub[:raise_block.start()] + body + stub[raise_block.end():], encoding="utf-8")
    assert main(["check", name, "--file", str(path)]) == 0, capsys.readouterr().out
    assert "PASSED" in capsys.readouterr().out


# -- wrong answers are explained --------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if exercises.EXERCISES[n].checker is None])
def test_every_known_mistake_is_recognised_as_itself(name):
    """Each wrong answer in an exercise's table is reported with its own message, not another's."""
    ex = exercises.EXERCISES[name]
    case = ex.cases(np.random.default_rng(0))[0]
    for output, known in case.mistakes().items():
        for message, wrong in known:
            def fn(*args, **kwargs):
                result = ex.reference(*args, **kwargs)
                if len(ex.outputs) == 1:
                    return wrong.copy()
                result = list(result)
                result[ex.outputs.index(output)] = wrong.copy()
                return tuple(result)

            report = exercises.Report(ex, "a known mistake")
            assert not exercises._run_case(ex, fn, case, 1, report, None)
            details = [d for status, _, ds in report.items if status == "FAIL" for d in ds]
            assert f"this is a known mistake: {message}." in details, (output, message, details)



def test_layer_norm_without_the_mean_term_fails_with_relative_error_and_the_reason(tmp_path, capsys):
    path = write(tmp_path, "layer_norm_backward", """
        def layer_norm_backward(dout, cache):
            xhat, rstd, g = cache
            dxhat = dout * g
            return rstd * (dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    """)
    assert main(["check", "layer_norm_backward", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "dx is wrong: relative error" in out and "WRONG" in out
    assert "An error of this size suggests" in out and "the mean term is missing" in out


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


def test_ia3_scale_backward_summing_the_wrong_axes_reports_expected_and_found_shapes(tmp_path, capsys):
    path = write(tmp_path, "ia3_scale_backward", """
        def ia3_scale_backward(dout, cache):
            x, l = cache
            return dout * l, (dout * x).sum(axis=0)
    """)
    assert main(["check", "ia3_scale_backward", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "dl has the wrong shape: expected (8,), got (3, 8)" in out and "reshape(-1, N)" in out


def test_attention_without_the_scale_is_off_by_sqrt_d(tmp_path, capsys):
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
    assert "dq is wrong: relative error 0.5" in out and "1/sqrt(D) scale" in out


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
    assert "raised ValueError" in out and "line 5 of your file: dh = dx @ w2" in out and "transpose" in out


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


def test_a_merge_that_edits_the_model_in_place_fails(tmp_path, capsys):
    path = write(tmp_path, "merge", """
        import numpy as np
        import tinyia3
        def merge(model, ia3):
            C = model.config.n_embd
            params = dict(model.params)
            for i in range(model.config.n_layer):
                s = np.concatenate([np.ones(C), ia3.l_k[i], ia3.l_v[i]])
                params[f"h.{i}.attn.c_attn.weight"] *= s
                params[f"h.{i}.attn.c_attn.bias"] *= s
                params[f"h.{i}.mlp.c_proj.weight"] *= ia3.l_ff[i][:, None]
            return tinyia3.GPT2(model.config, params, name=model.name)
    """)
    assert main(["check", "merge", "--file", path]) == 1
    assert "changed its inputs in place" in capsys.readouterr().out


def test_a_merge_that_forgets_the_bias_names_the_weight(tmp_path, capsys):
    path = write(tmp_path, "merge", """
        import numpy as np
        import tinyia3
        def merge(model, ia3):
            C = model.config.n_embd
            params = dict(model.params)
            for i in range(model.config.n_layer):
                s = np.concatenate([np.ones(C), ia3.l_k[i], ia3.l_v[i]])
                params[f"h.{i}.attn.c_attn.weight"] = params[f"h.{i}.attn.c_attn.weight"] * s
                params[f"h.{i}.mlp.c_proj.weight"] = params[f"h.{i}.mlp.c_proj.weight"] * ia3.l_ff[i][:, None]
            return tinyia3.GPT2(model.config, params, name=model.name)
    """)
    assert main(["check", "merge", "--file", path]) == 1
    out = capsys.readouterr().out
    assert "logits relative error" in out and "h.0.attn.c_attn.bias is unchanged: scale the bias too" in out


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


# -- the command line -------------------------------------------------------------------------


def test_list_shows_every_exercise_with_lesson_minutes_and_goal(capsys):
    assert main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    for ex in exercises.EXERCISES.values():
        line = next(row for row in out.splitlines() if row.startswith(ex.name + " "))
        assert f" {ex.lesson} " in line and f" {ex.minutes} " in line and ex.goal in line


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
    assert "--solution" in out and "--file" in out and "--list" in out
