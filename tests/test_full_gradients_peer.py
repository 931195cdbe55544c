"""Full-parameter gradients (FullFineTune) against the peer implementation (torch autograd).

What is compared: tinyia3.loss_and_grad(model, None, ids, loss_mask, attention_mask,
trainable="all") on the bare tiny model tests/fixtures/tiny_hub (no IA³ vectors): the loss and
the gradient of every weight, by hub name (wte.weight, wpe.weight, h.{i}.…, ln_f.…; Conv1D
weights in (in, out) layout; the LM head is tied, so wte.weight's gradient is the total of the
embedding and head shares).

Against what: full_loss_{f64,f32} and full_grad.<name>_{f64,f32} in
tests/fixtures/reference.safetensors, written by transformers' GPT2LMHeadModel (eval mode,
eager attention) and torch autograd, on the same batch and loss as the IA³ fixtures (ia3_ids,
ia3_attention_mask, ia3_loss_mask; mean next-token cross-entropy over counted targets,
evaluated in the model's own dtype).

Tolerances: relative error = max|Δ| / max|ref| (tinyia3.gradcheck.rel_error), per weight:
≤ 1e-9 for the float64 model against the float64 reference, ≤ 1e-4 for the float32 model against
the float32 reference (the loss likewise). The set of gradient names must equal the model's
parameter names.

Reads fixtures only; never imports torch. Regenerate with tools/make_peer_fixtures.py.
"""

import os

import numpy as np
import pytest

import tinyia3
from tinyia3.full import FullFineTune
from tinyia3.checkpoint import read_safetensors
from tinyia3.gradcheck import rel_error

from conftest import FIXTURES

REF, META = read_safetensors(os.path.join(FIXTURES, "reference.safetensors"))
TOL = {np.float64: 1e-9, np.float32: 1e-4}
SUFFIX = {np.float64: "f64", np.float32: "f32"}
PREFIX = "full_grad."


def _reference_grads(sfx):
    end = "_" + sfx
    return {k[len(PREFIX):-len(end)]: v for k, v in REF.items() if k.startswith(PREFIX) and k.endswith(end)}


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["f64", "f32"])
def computed(request):
    dtype = request.param
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=dtype)
    loss, grads = tinyia3.loss_and_grad(model, FullFineTune.of(model), REF["ia3_ids"], loss_mask=REF["ia3_loss_mask"],
                                        attention_mask=REF["ia3_attention_mask"])
    return dtype, model, loss, grads.named()


def test_fixture_has_full_gradients():
    assert META["format_version"] == "1", "fixtures changed format: regenerate with " + META["regenerate"]
    assert "full_loss_f64" in REF, "no full-gradient references: regenerate with tools/make_peer_fixtures.py"
    assert set(_reference_grads("f64")) == set(_reference_grads("f32"))
    assert "lm_head.weight" not in _reference_grads("f64")  # tied: stored once, as wte.weight


def test_gradient_names_are_the_parameter_names(computed):
    dtype, model, _, grads = computed
    assert set(grads) == set(model.params)
    assert set(_reference_grads(SUFFIX[dtype])) == set(model.params)
    for name, g in grads.items():
        assert g.shape == model.params[name].shape, name
        assert g.dtype == dtype, name


def test_loss_matches_torch(computed):
    dtype, _, loss, _ = computed
    ref = float(REF[f"full_loss_{SUFFIX[dtype]}"])
    assert abs(loss - ref) / abs(ref) <= TOL[dtype], (loss, ref)


def test_every_weight_gradient_matches_torch(computed):
    dtype, _, _, grads = computed
    ref = _reference_grads(SUFFIX[dtype])
    errors = {name: rel_error(grads[name], ref[name]) for name in sorted(ref)}
    bad = {name: e for name, e in errors.items() if not e <= TOL[dtype]}
    assert not bad, f"rel_error > {TOL[dtype]:g} ({np.dtype(dtype).name}): {bad}"
