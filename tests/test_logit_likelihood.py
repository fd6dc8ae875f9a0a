"""The one-pass Bernoulli-logit log-likelihood Op (``carepaths.model._logit``).

Checked against the closed form log sigmoid(z) = -logaddexp(0, -z) and its derivative
sigmoid(-z), in PyTensor's Python implementation and in the Numba kernel the sampler
runs, over the whole float range (tails included, where forming 1 - p would round), and
its gradient against finite differences.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from carepaths.model._logit import bernoulli_logit_logp, log_sigmoid_with_derivative

Z = np.concatenate([[-800.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 800.0], np.linspace(-60, 60, 1201)])


def _exact(z):
    return -np.logaddexp(0.0, -z), np.exp(-np.logaddexp(0.0, z))  # log sigmoid(z), sigmoid(-z)


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_value_and_derivative_match_the_closed_form(mode):
    z = pt.dvector("z")
    value, derivative = log_sigmoid_with_derivative(z)
    got_value, got_derivative = pytensor.function([z], [value, derivative], mode=mode)(Z)
    want_value, want_derivative = _exact(Z)
    # Both are exact to rounding: relative 1e-13 (a few ulps of log1p and exp), and at 0
    # both equal log(1/2) and 1/2 exactly.
    np.testing.assert_allclose(got_value, want_value, rtol=1e-13, atol=0)
    np.testing.assert_allclose(got_derivative, want_derivative, rtol=1e-13, atol=1e-300)
    assert got_value[3] == -np.log(2.0) and got_derivative[3] == 0.5


def test_gradients_match_finite_differences():
    z = pt.dvector("z")
    value, derivative = log_sigmoid_with_derivative(z)
    first = pytensor.function([z], pytensor.grad(value.sum(), z), mode="NUMBA")
    second = pytensor.function([z], pytensor.grad(derivative.sum(), z), mode="NUMBA")
    f_value = pytensor.function([z], value, mode="NUMBA")
    f_derivative = pytensor.function([z], derivative, mode="NUMBA")
    points = np.random.default_rng(0).normal(scale=3.0, size=25)
    h = 1e-5
    # central differences: truncation error O(h^2) ~ 1e-10 (the third derivative is
    # bounded by 1), rounding error ~ 1e-16 / h ~ 1e-11, so 1e-8 absolute is generous
    numeric_first = (f_value(points + h) - f_value(points - h)) / (2 * h)
    numeric_second = (f_derivative(points + h) - f_derivative(points - h)) / (2 * h)
    np.testing.assert_allclose(first(points), numeric_first, atol=1e-8, rtol=0)
    np.testing.assert_allclose(second(points), numeric_second, atol=1e-8, rtol=0)


def test_value_and_gradient_compile_to_one_pass():
    """The gradient reuses the Op's second output: one Op node in the compiled function."""
    from carepaths.model._logit import LogSigmoidWithDerivative

    y, eta = pt.dvector("y"), pt.dvector("eta")
    logp = bernoulli_logit_logp(y, eta).sum()
    f = pytensor.function([y, eta], [logp, pytensor.grad(logp, eta)], mode="NUMBA")
    ops = [node.op for node in f.maker.fgraph.apply_nodes if isinstance(node.op, LogSigmoidWithDerivative)]
    assert len(ops) == 1
    yv = np.array([0.0, 1.0, 1.0, 0.0])
    etav = np.array([-2.0, 0.5, 30.0, 35.0])
    got_logp, got_grad = f(yv, etav)
    sign = 2 * yv - 1
    np.testing.assert_allclose(got_logp, np.sum(-np.logaddexp(0.0, -sign * etav)), rtol=1e-14)
    np.testing.assert_allclose(got_grad, sign / (1.0 + np.exp(sign * etav)), rtol=1e-13)


def test_the_numba_kernel_has_a_cache_key():
    """Without a cache key every model with a binary outcome would recompile in every process."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    z = pt.dvector("z")
    node = log_sigmoid_with_derivative(z)[0].owner
    _, key = numba_funcify_and_cache_key(node.op, node=node)
    assert key is not None


def test_only_float64_vectors_are_accepted():
    with pytest.raises(TypeError, match="float64 vector"):
        log_sigmoid_with_derivative(pt.dmatrix("z"))
