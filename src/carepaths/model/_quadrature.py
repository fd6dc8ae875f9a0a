"""PyTensor Ops for the person intercepts integrated out by adaptive Gauss-Hermite quadrature.

Each Op returns a variable's log-likelihood summed over persons, with the intercepts
integrated out (:mod:`carepaths.structural.person_integrals`, where the kernels, the
derivation and the gradient's accuracy are), and the gradient with respect to its inputs
from the same pass: its pullback reuses the gradient outputs, so PyTensor evaluates the
kernel once per log-density and gradient. Numba implementations are registered with
PyTensor's cache-key machinery, so compiled models using them stay in PyTensor's on-disk
cache (as :mod:`carepaths.model._logit`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key

from carepaths.structural import person_integrals

_KERNEL_VERSION = person_integrals.kernel_version()


def _disconnected(*variables: Any) -> list[Any]:
    from pytensor.gradient import disconnected_type

    return [disconnected_type() for _ in variables]


class IntervalMarginalLogp(Op):
    """``(lo, hi, sd, order, starts) -> (sum_i log p_i, d/dlo, d/dhi, d/dsd)``: binary and ordinal variables."""

    __props__ = ("probit", "nodes")

    def __init__(self, probit: bool, nodes: int) -> None:
        self.probit = bool(probit)
        self.nodes = int(nodes)

    def make_node(self, lo: Any, hi: Any, sd: Any, order: Any, starts: Any) -> Apply:
        lo, hi = pt.as_tensor_variable(lo).astype("float64"), pt.as_tensor_variable(hi).astype("float64")
        sd = pt.as_tensor_variable(sd).astype("float64")
        order, starts = pt.as_tensor_variable(order), pt.as_tensor_variable(starts)
        return Apply(self, [lo, hi, sd, order, starts], [pt.dscalar(), lo.type(), hi.type(), pt.dscalar()])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        lo, hi, sd, order, starts = inputs
        x, logw = person_integrals.hermite_nodes(self.nodes)
        logp, d_sd, _, _, d_lo, d_hi = person_integrals.kernels()["interval_all"](
            lo, hi, order, starts, float(sd), self.probit, x, logw, True)
        total = person_integrals.kernels()["total"]  # the Numba implementation's order of addition
        outputs[0][0] = np.asarray(total(logp))
        outputs[1][0] = d_lo
        outputs[2][0] = d_hi
        outputs[3][0] = np.asarray(total(d_sd))

    def pullback(self, inputs: list[Any], outputs: list[Any], cotangents: list[Any]) -> list[Any]:
        g = cotangents[0]
        _, d_lo, d_hi, d_sd = outputs
        return [g * d_lo, g * d_hi, g * d_sd, *_disconnected(inputs[3], inputs[4])]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[True, False, False, False]] * 3 + [[False] * 4] * 2


class CountMarginalLogp(Op):
    """``(y, eta, phi, sd, order, starts) -> (sum_i log p_i, d/deta, d/dphi, d/dsd)``: negative binomial outcome.

    Without the terms of ``y`` and ``phi`` alone, which the caller adds (see
    :func:`carepaths.structural.person_integrals.count_marginal`).
    """

    __props__ = ("nodes",)

    def __init__(self, nodes: int) -> None:
        self.nodes = int(nodes)

    def make_node(self, y: Any, eta: Any, phi: Any, sd: Any, order: Any, starts: Any) -> Apply:
        y, eta = pt.as_tensor_variable(y).astype("float64"), pt.as_tensor_variable(eta).astype("float64")
        phi, sd = pt.as_tensor_variable(phi).astype("float64"), pt.as_tensor_variable(sd).astype("float64")
        order, starts = pt.as_tensor_variable(order), pt.as_tensor_variable(starts)
        return Apply(self, [y, eta, phi, sd, order, starts], [pt.dscalar(), eta.type(), pt.dscalar(), pt.dscalar()])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        y, eta, phi, sd, order, starts = inputs
        x, logw = person_integrals.hermite_nodes(self.nodes)
        logp, d_sd, d_phi, _, _, d_eta = person_integrals.kernels()["count_all"](
            y, eta, order, starts, float(phi), float(sd), x, logw, True)
        total = person_integrals.kernels()["total"]
        outputs[0][0] = np.asarray(total(logp))
        outputs[1][0] = d_eta
        outputs[2][0] = np.asarray(total(d_phi))
        outputs[3][0] = np.asarray(total(d_sd))

    def pullback(self, inputs: list[Any], outputs: list[Any], cotangents: list[Any]) -> list[Any]:
        g = cotangents[0]
        _, d_eta, d_phi, d_sd = outputs
        return [*_disconnected(inputs[0]), g * d_eta, g * d_phi, g * d_sd, *_disconnected(inputs[4], inputs[5])]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[False] * 4] + [[True, False, False, False]] * 3 + [[False] * 4] * 2


@register_funcify_default_op_cache_key(IntervalMarginalLogp)
def _numba_interval(op: IntervalMarginalLogp, node: Apply = None, **kwargs: Any) -> tuple[Any, int]:
    kernel, total = person_integrals.kernels()["interval_all"], person_integrals.kernels()["total"]
    x, logw = person_integrals.hermite_nodes(op.nodes)
    probit = op.probit

    @numba_njit
    def interval_marginal_kernel(lo, hi, sd, order, starts):  # noqa: ANN001, ANN202
        logp, d_sd, _, _, d_lo, d_hi = kernel(lo, hi, order, starts, sd.item(), probit, x, logw, True)
        return np.asarray(total(logp)), d_lo, d_hi, np.asarray(total(d_sd))

    return interval_marginal_kernel, _KERNEL_VERSION


@register_funcify_default_op_cache_key(CountMarginalLogp)
def _numba_count(op: CountMarginalLogp, node: Apply = None, **kwargs: Any) -> tuple[Any, int]:
    kernel, total = person_integrals.kernels()["count_all"], person_integrals.kernels()["total"]
    x, logw = person_integrals.hermite_nodes(op.nodes)

    @numba_njit
    def count_marginal_kernel(y, eta, phi, sd, order, starts):  # noqa: ANN001, ANN202
        logp, d_sd, d_phi, _, _, d_eta = kernel(y, eta, order, starts, phi.item(), sd.item(), x, logw, True)
        return np.asarray(total(logp)), d_eta, np.asarray(total(d_phi)), np.asarray(total(d_sd))

    return count_marginal_kernel, _KERNEL_VERSION


def interval_marginal_logp(lo: Any, hi: Any, sd: Any, order: Any, starts: Any, *, probit: bool, nodes: int) -> Any:
    """The summed log marginal likelihood of a binary or ordinal variable (a PyTensor scalar).

    ``order`` and ``starts`` (:class:`~carepaths.structural.person_integrals.PersonRows`)
    as integer tensors (shared variables, so the compiled function serves any dataset).
    """
    return IntervalMarginalLogp(probit, nodes)(lo, hi, sd, order, starts)[0]


def count_marginal_logp(y: Any, eta: Any, phi: Any, sd: Any, order: Any, starts: Any, *, nodes: int) -> Any:
    """The summed log marginal likelihood of a negative binomial outcome (a PyTensor scalar).

    Includes the terms of ``y`` and ``phi`` alone, so it is the whole log-likelihood.
    """
    core = CountMarginalLogp(nodes)(y, eta, phi, sd, order, starts)[0]
    rest = pt.sum(pt.gammaln(y + phi) - pt.gammaln(y + 1.0)) + y.shape[0] * (phi * pt.log(phi) - pt.gammaln(phi))
    return core + rest
