"""The T-Few objective (L_LM + L_UL + L_LN) and rank classification, float64, tiny model.

Hand-written gradients of each term against central finite differences: relative error < 1e-7.
"""

import numpy as np
import pytest

import tinyia3
from tinyia3.full import FullFineTune
from tinyia3.data import MCExample, mc_batch
from tinyia3.gradcheck import TOLERANCE_F64, numerical_gradient, rel_error
from tinyia3.losses import TFEW_TERMS, choice_scores, predict, tfew_loss, tfew_loss_and_grad


@pytest.fixture
def choices():
    """Three examples with 2, 3 and 2 choices of different token lengths."""
    return mc_batch([
        MCExample([3, 7, 9], [[4], [5, 6]], 1),
        MCExample([11, 2], [[8, 8], [1], [30, 31, 32]], 0),
        MCExample([5, 5, 5, 5], [[17], [18]], 1),
    ])


@pytest.mark.parametrize("terms", [("lm",), ("ul",), ("ln",), TFEW_TERMS])
def test_tfew_gradients_match_finite_differences(tiny, choices, terms):
    ia3 = tinyia3.IA3.random(tiny, std=0.3, seed=11)
    _, grads, _, _ = tfew_loss_and_grad(tiny, ia3, choices, terms)
    for name, vec in ia3.named().items():
        numeric = numerical_gradient(lambda: tfew_loss(tiny, ia3, choices, terms), vec)
        assert rel_error(getattr(grads, name).ravel(), numeric) < TOLERANCE_F64, (terms, name)


def test_tfew_full_weight_gradients_match_finite_differences(tiny, choices):
    _, grads, _, _ = tfew_loss_and_grad(tiny, FullFineTune.of(tiny), choices, TFEW_TERMS)
    grads = grads.named()
    rng = np.random.default_rng(0)
    for name in ("h.1.mlp.c_fc.weight", "h.0.attn.c_attn.bias", "wte.weight", "ln_f.weight"):
        weight = tiny.params[name]
        index = rng.choice(weight.size, 5, replace=False)
        if name == "wte.weight":
            index[:2] = [5 * weight.shape[1], 8 * weight.shape[1] + 1]  # rows of tokens in the batch
        numeric = numerical_gradient(lambda: tfew_loss(tiny, None, choices), weight, index)
        assert rel_error(grads[name].ravel()[index], numeric) < TOLERANCE_F64, name


def token_logprobs(model, prompt, choice):
    """log p(choice tokens | prompt), one by one, from plain logits: the definition."""
    ids = np.array(prompt + choice)
    logits = model.logits(ids)[0]
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return np.array([logp[len(prompt) + t - 1, tok] for t, tok in enumerate(choice)])


def test_tfew_terms_equal_their_definitions(tiny, choices):
    examples = [([3, 7, 9], [[4], [5, 6]], 1), ([11, 2], [[8, 8], [1], [30, 31, 32]], 0),
                ([5, 5, 5, 5], [[17], [18]], 1)]
    right, wrong, ln = [], [], []
    for prompt, options, label in examples:
        lps = [token_logprobs(tiny, prompt, c) for c in options]
        right.extend(lps[label])
        for n, lp in enumerate(lps):
            if n != label:
                wrong.extend(lp)
        beta = np.array([lp.mean() for lp in lps])
        ln.append(-(beta[label] - np.log(np.exp(beta).sum())))
    _, _, values, scores = tfew_loss_and_grad(tiny, FullFineTune.of(tiny), choices, TFEW_TERMS)
    assert values["lm"] == pytest.approx(-np.mean(right), rel=1e-12)
    assert values["ul"] == pytest.approx(-np.mean(np.log(1 - np.exp(wrong))), rel=1e-12)
    assert values["ln"] == pytest.approx(np.mean(ln), rel=1e-12)
    np.testing.assert_allclose(scores, choice_scores(tiny, None, choices), rtol=1e-12)


def test_rank_classification_picks_the_highest_normalised_score(choices):
    scores = np.array([-1.0, -0.5, -3.0, -0.1, -2.0, -4.0, -0.2])  # rows: 2 + 3 + 2 choices
    np.testing.assert_array_equal(predict(scores, choices), [1, 1, 1])


def test_unknown_tfew_term_is_refused(tiny, choices):
    with pytest.raises(ValueError, match="subset of"):
        tfew_loss_and_grad(tiny, tinyia3.IA3.ones(tiny), choices, ("lm", "kl"))
