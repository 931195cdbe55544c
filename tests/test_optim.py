"""The optimiser, schedule and clipping against their textbook definitions."""

import numpy as np
import pytest

from tinyia3.optim import AdamW, clip_by_global_norm, global_norm, warmup_linear_lr


def reference_adamw(theta, grads, lr, b1, b2, eps, wd):
    """Adam written out plainly, one step at a time, for comparison."""
    m = v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * theta)
    return theta


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adamw_matches_the_textbook_update(wd):
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(7)]
    params = {"w": theta0.copy()}
    opt = AdamW(params, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
    for g in grads:
        opt.step({"w": g.copy()})
    np.testing.assert_allclose(params["w"], reference_adamw(theta0, grads, 0.01, 0.9, 0.99, 1e-8, wd), rtol=1e-12)


def test_first_adam_step_has_size_lr():
    """Bias correction makes the first step lr·sign(g), whatever the gradient's size."""
    params = {"w": np.zeros(3)}
    AdamW(params, lr=0.1).step({"w": np.array([1e-3, -5.0, 2.0])})
    np.testing.assert_allclose(params["w"], [-0.1, 0.1, -0.1], rtol=1e-4)


def test_adam_state_round_trip_resumes_identically():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(4) for _ in range(6)]
    straight = {"w": np.ones(4)}
    opt = AdamW(straight, lr=0.05)
    for g in grads:
        opt.step({"w": g})
    resumed = {"w": np.ones(4)}
    first = AdamW(resumed, lr=0.05)
    for g in grads[:3]:
        first.step({"w": g})
    second = AdamW(resumed, lr=0.05)
    second.load_state_dict({k: v.copy() for k, v in first.state_dict().items()})
    for g in grads[3:]:
        second.step({"w": g})
    np.testing.assert_array_equal(resumed["w"], straight["w"])


def test_optimizer_state_for_other_parameters_is_refused():
    opt = AdamW({"w": np.ones(4)})
    with pytest.raises(ValueError, match="different parameters"):
        opt.load_state_dict(AdamW({"w": np.ones(5)}).state_dict())


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [warmup_linear_lr(s, 100, 1e-3, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a > b for a, b in zip(lrs[10:], lrs[11:]))
    assert warmup_linear_lr(100, 100, 1e-3, 10) == 0.0


def test_clipping_scales_to_max_norm_and_reports_the_original():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    small = {"a": np.array([0.3, 0.4])}
    assert clip_by_global_norm(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(small["a"], [0.3, 0.4])
