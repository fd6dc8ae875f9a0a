"""Building the hierarchical mediation model in PyMC from a spec and a panel.

One PyMC model per (spec, panel, priors). Its variables are the parameter set of
:func:`carepaths.structural.parameters.parameter_dims`; the one translator
(:func:`~carepaths.structural.parameters.structural_arrays`) turns them into the arrays
of the structural equations (:mod:`carepaths.structural.equations`), the single home of
the model. Constructing a :class:`MediationModel` builds the graph and never samples.

Parameterisation (chosen for geometry, see ``benchmarks/README.md``):

* stage-specific intercepts are independent stage effects; the paths a, b and c are
  independent across stages (``pool_stages = false``) or partially pooled with a
  *centred* hierarchy ``theta[s] ~ Normal(mu_theta, tau_theta)`` (``pool_stages = true``):
  with only a few stages and many rows per stage, the centred form samples well where the
  non-centred one produced divergences; with ``stage_specific_paths = false`` each path
  is one variable without a stage dim (``a`` (mediator), ``b`` (mediator), ``c`` ()),
  shared by every stage;
* with ``person_effects = "intercepts"``, the person intercepts of *normal* mediators are
  integrated out analytically: a person's waves share a compound-symmetric covariance
  ``sigma^2 I + sd_u^2 J``, whose log-density needs only per-person sums of residuals;
* other person effects (bernoulli / ordinal mediators, the outcome, random slopes) are
  non-centred;
* a bernoulli or ordinal variable's likelihood follows the spec's ``link``: logit
  (``Bernoulli(logit_p)``, ``OrderedLogistic``, and for the outcome the one-pass
  :mod:`carepaths.model._logit`) or probit (``log Phi((2y - 1) eta)``, exact in both
  tails, and ``OrderedProbit``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from carepaths.checks.predictive import Checks, check_seed
from carepaths.checks.predictive import prior_check as predictive_prior_check
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, DataError
from carepaths.model._densities import _compound_symmetric_normal, _data
from carepaths.model._missing import (
    IMPUTATION_PARAMS,
    MISSING_CONFOUNDERS,
    MISSING_EXPOSURE,
    check_missing_supported,
    check_mixture_supported,
    discrete_mixture,
    imputation_model,
    marginal_mediators,
)
from carepaths.model._quadrature import count_marginal_logp, interval_marginal_logp
from carepaths.model.fit import Fit
from carepaths.model.priors import IMPUTATION_PRIORS, SOURCES_ATTR, Prior, _prior_text, prior_table, resolve_prior_sources
from carepaths.spec import Spec
from carepaths.structural import equations
from carepaths.structural.mixtures import MISSING_WEIGHTS, mixture_groups
from carepaths.structural.person_integrals import PersonRows
from carepaths.structural.parameters import (
    ParameterSet,
    integrated_mediators,
    parameter_coords,
    parameter_dims,
    person_arrays,
    person_mode,
    pytensor_ops,
    quadrature_intercepts,
    MISSING_MEDIATORS,
    PRODUCT_PARAMS,
    product_indices,
    split_slopes,
    structural_arrays,
)

__all__ = ["MediationModel", "POOLED_PARAMS"]

# the stage-specific paths pooled across stages when structure.pool_stages; the stage
# intercepts alpha_m and beta0 stay independent stage effects (pooling intercepts of
# standardised mediators, which barely differ, put tau at 0 and produced divergences)
POOLED_PARAMS = ("a", "b", "c")


def _bernoulli_logit(eta: Any, size: Any) -> Any:
    """Bernoulli(logit_p = eta): how the outcome is drawn (prior predictive)."""
    import pymc as pm

    return pm.Bernoulli.dist(logit_p=eta, size=size)


def _bernoulli_logit_logp(value: Any, eta: Any) -> Any:
    """log Bernoulli(value | logit_p = eta) = log sigmoid((2 value - 1) eta), for value in {0, 1}.

    Value and derivative in one pass (:mod:`carepaths.model._logit`).
    """
    from carepaths.model._logit import bernoulli_logit_logp

    return bernoulli_logit_logp(value, eta)


def _bernoulli_probit(eta: Any, size: Any) -> Any:
    """Bernoulli(p = Phi(eta)): how a probit variable is drawn (prior predictive)."""
    import pymc as pm
    import pytensor.tensor as pt

    return pm.Bernoulli.dist(p=0.5 * pt.erfc(-eta / np.sqrt(2.0)), size=size)


def _bernoulli_probit_logp(value: Any, eta: Any) -> Any:
    """log Bernoulli(value | p = Phi(eta)) = log Phi((2 value - 1) eta), for value in {0, 1}."""
    return _log_ndtr((2.0 * value - 1.0) * eta)


def _log_ndtr(z: Any) -> Any:
    """``log Phi(z)`` in PyTensor, exact in both tails (``scipy.special.log_ndtr``'s job).

    ``log(erfcx(-z / sqrt 2) / 2) - z^2 / 2`` below -1, where ``Phi`` is small and ``erfcx``
    keeps its relative precision, and ``log1p(-erfc(z / sqrt 2) / 2)`` above, where no
    ``1 - p`` is formed (it would round to 0 beyond about 8). PyMC's ``normal_lcdf`` is the
    same formula with ``sqrt 2`` as a float32 constant (``pt.sqrt(2.0)``), which costs about
    1e-6 of relative precision in the tails; here ``1 / sqrt 2`` is a double. Each branch
    is fed only the values where it is taken, so neither sends an inf or nan into the
    gradient.
    """
    import pytensor.tensor as pt

    root_half = pt.constant(np.sqrt(0.5), dtype="float64")
    lower = pt.lt(z, -1.0)
    z_lower = pt.switch(lower, z, -1.0)
    z_upper = pt.switch(lower, -1.0, z)
    return pt.switch(
        lower,
        pt.log(0.5 * pt.erfcx(-z_lower * root_half)) - 0.5 * pt.sqr(z_lower),
        pt.log1p(-0.5 * pt.erfc(z_upper * root_half)),
    )


def _probit_bernoulli(name: str, eta: Any, observed: Any, dims: str | None = "obs") -> Any:
    """An observed bernoulli variable with the probit link (a mediator or the outcome)."""
    import pymc as pm

    return pm.CustomDist(name, eta, dist=_bernoulli_probit, logp=_bernoulli_probit_logp, observed=observed,
                         dims=dims)


def _mediator_logp(med: Any, value: float, eta: Any, cutpoints: Any) -> Any:
    """log P(M = value | eta) of a bernoulli or ordinal mediator, per row (the spec's link)."""
    import pymc as pm
    import pytensor.tensor as pt

    if med.family == "bernoulli":
        z = (2.0 * value - 1.0) * eta
        return _log_ndtr(z) if med.link == "probit" else -pt.softplus(-z)
    ordered = pm.OrderedProbit if med.link == "probit" else pm.OrderedLogistic
    return pm.logp(ordered.dist(eta=eta, cutpoints=cutpoints, compute_p=False), pt.full_like(eta, int(value), dtype="int64"))


def _outcome_logp(spec: Spec, y: Any, eta: Any, raw: Mapping[str, Any]) -> Any:
    """The outcome's log-density per row given its linear predictor (rows without person
    intercepts integrated out)."""
    import pymc as pm
    import pytensor.tensor as pt

    family = spec.outcome.family
    if family == "bernoulli":
        return _bernoulli_probit_logp(y, eta) if spec.outcome.link == "probit" else _bernoulli_logit_logp(y, eta)
    if family == "normal":
        return pm.logp(pm.Normal.dist(eta, raw["sigma_y"]), y)
    return pm.logp(pm.NegativeBinomial.dist(mu=pt.exp(eta), alpha=raw["phi"]), y)


class MediationModel:
    """The Bayesian hierarchical mediation model of a spec, built on a panel.

    Parameters
    ----------
    spec : Spec
        The model spec.
    panel : Panel
        Data validated against the same spec (``Panel.from_frame(df, spec)``).
    priors : mapping of str to Prior, optional
        Overrides by name (a :class:`~carepaths.model.priors.Prior` or its dict form). They
        win over the spec's ``[priors]`` table, which wins over the defaults; each takes
        full effect (distribution and every parameter) or raises ``SpecError``.

    Attributes
    ----------
    model : pymc.Model
        The PyMC model (conditioned on the data).
    priors : dict of str to Prior
        The priors in use.
    prior_sources : dict of str to str
        Where each came from: ``"default"``, ``"spec"`` or ``"argument"``
        (:meth:`prior_table` shows both).
    """

    def __init__(
        self, spec: Spec, panel: Panel, priors: Mapping[str, Prior | Mapping[str, Any]] | None = None
    ) -> None:
        if not isinstance(panel, Panel):
            raise DataError("MediationModel needs a carepaths Panel: use Panel.from_frame(df, spec).")
        if panel.spec != spec:
            raise CarepathsError(
                "the panel was validated against a different spec: rebuild it with "
                "Panel.from_frame(df, spec) for this spec."
            )
        self.spec = spec
        self.panel = panel
        self.priors, self.prior_sources = resolve_prior_sources(spec, priors)
        self.model = self._build()

    # ---------------------------------------------------------------------- tables
    def prior_table(self) -> Any:
        """The priors in use as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            Per prior name: ``prior`` (the distribution and parameters in use),
            ``source`` (``"default"``, ``"spec"`` for the spec's ``[priors]`` table,
            ``"argument"`` for ``priors=``) and ``reason`` (the default's reason; empty
            for an override). With imputed confounders (``missing="model"``), the
            imputation model's priors too (``source`` ``"imputation"``; fixed).
        """
        import pandas as pd

        table = prior_table(self.priors, self.prior_sources)
        if "imputation" not in self.model.named_vars:
            return table
        used = [n for n in IMPUTATION_PARAMS if n in self.model.named_vars]
        extra = pd.DataFrame(
            {"prior": [_prior_text(IMPUTATION_PRIORS[n][0]) for n in used], "source": "imputation",
             "reason": [IMPUTATION_PRIORS[n][1] for n in used]},
            index=pd.Index(used, name=table.index.name),
        )
        return pd.concat([table, extra[table.columns]])

    # ---------------------------------------------------------------------- build
    def _stage_param(self, name: str, dims: tuple[str, ...]) -> Any:
        """A stage parameter by its dims (parameter_dims); paths pooled across stages when asked."""
        import pymc as pm

        prior = self.priors[name]
        if not self.spec.structure.pool_stages or name not in POOLED_PARAMS or "stage" not in dims:
            return prior.create(name, dims=dims or None)
        mu = prior.create(f"mu_{name}", dims=dims[:-1] or None)
        tau = self.priors["tau"].create(f"tau_{name}", dims=dims[:-1] or None)
        if dims[:-1]:
            return pm.Normal(name, mu=mu[..., None], sigma=tau[..., None], dims=dims)
        return pm.Normal(name, mu=mu, sigma=tau, dims=dims)

    def _build(self) -> Any:
        import pymc as pm
        import pytensor.tensor as pt

        spec, ds = self.spec, self.panel.dataset
        names = list(spec.mediator_names)
        K = len(names)
        normal = [k for k, m in enumerate(spec.mediators) if m.family == "normal"]
        mode = person_mode(spec)
        dims = parameter_dims(spec)
        coords: dict[str, Any] = {
            **parameter_coords(spec),
            "obs": np.arange(self.panel.n_obs),
        }
        if mode != "none":
            coords["person"] = [str(p) for p in self.panel.persons]
        if spec.columns.cluster is not None:
            # first-appearance order, as Panel's cluster_idx codes
            coords["cluster"] = [str(c) for c in dict.fromkeys(ds["cluster"].values.tolist())]
        marginal = set(integrated_mediators(spec))
        # person intercepts integrated out by quadrature (the outcome's, binary and ordinal
        # mediators'; structural.person_integrals), or sampled (explicit, non-centred)
        quad_outcome, quad_mediators = quadrature_intercepts(spec)
        explicit = [k for k in range(K) if k not in marginal and k not in quad_mediators] if mode != "none" else []
        if explicit:
            coords["mediator_explicit"] = [names[k] for k in explicit]

        stage_idx = ds["stage_idx"].values
        person_idx = ds["person_idx"].values if mode != "none" else None
        M_obs = ds["M"].values
        # missing values (Panel missing="model"): an outcome's row leaves the outcome's
        # likelihood; a normal mediator's is a latent value where the outcome is observed;
        # a numeric confounder's is imputed (model._missing)
        y_obs, m_obs = self.panel.observed()
        cell_rows, cell_meds = self.panel.latent_cells()
        c_rows, c_cols = self.panel.latent_confounders()
        x_rows = self.panel.latent_exposure()
        imputed = sorted(set(c_cols.tolist()))  # the columns of C with missing values
        C_const = ds["C"].values
        split = spec.structure.center_exposure_within_person
        X_const = ds["X_within" if split else "X"].values
        if len(x_rows):  # a placeholder, replaced by the latent values
            X_const = np.where(np.isnan(X_const), 0.0, X_const)
        # the imputed variables, exposure first: (name, values with NaN, column of C or None)
        imputed_vars = ([(spec.exposure.name, ds["X"].values, None)] if len(x_rows) else []) + [
            (spec.confounder_terms[j], ds["C"].values[:, j], j) for j in imputed]
        if not m_obs.all() or imputed:
            check_missing_supported(spec, mediators=not m_obs.all(),
                                    confounders=[spec.confounder_terms[j] for j in imputed])
            # placeholders: every use below is masked or replaced by the latent values
            M_obs = np.where(m_obs, M_obs, 0.0)
            C_const = np.where(np.isnan(C_const), 0.0, C_const)
        # rows whose missing binary or ordinal mediators are summed out of the outcome's
        # likelihood (structural.mixtures): they leave the outcome's likelihood below
        groups = mixture_groups(spec, ds["M"].values, y_obs) if not m_obs.all() else []
        if groups:
            check_mixture_supported(spec, quad_outcome)
            coords["missing_component"] = np.arange(sum(g.size for g in groups))
        y_in = y_obs.copy()  # the rows of the outcome's own likelihood
        for g in groups:
            y_in[g.rows] = False
        y_rows = None if y_in.all() else np.flatnonzero(y_in)
        y_dims = "obs"  # the outcome likelihood's rows: every row, or those of y_rows
        if y_rows is not None:
            coords["obs_outcome"] = y_rows
            y_dims = "obs_outcome"
        if len(cell_rows):
            coords["missing_cell"] = np.arange(len(cell_rows))
        if imputed:
            coords["missing_confounder"] = np.arange(len(c_rows))
        if len(x_rows):
            coords["missing_exposure"] = np.arange(len(x_rows))
        if imputed_vars:
            coords["imputed_variable"] = [name for name, _, _ in imputed_vars]
        # rows whose confounders or exposure hold a latent value: their design is not constant
        special_c = np.zeros(len(stage_idx), dtype=bool)
        special_c[c_rows] = True
        special_c[x_rows] = True
        # check_bounds=False: parameter-bound assertions (e.g. 0 <= p <= 1 on 8,000 rows)
        # cost as much as the likelihood itself; every parameter here is in-bounds by
        # construction (logit and probit links, positive transforms).
        with pm.Model(coords=coords, check_bounds=False) as model:
            # with the within/between split, the stage paths a and c act on the
            # within-person deviation; the person mean gets its own paths
            X = pm.Data("X", X_const, dims="obs")
            X_between = pm.Data("X_between", ds["X_between"].values, dims="obs") if split else None
            C = pm.Data("C", C_const, dims=("obs", "confounder"))

            # the parameter set, by the names of structural.parameters.parameter_dims (the
            # creation order fixes the sampler's parameter vector: keep it)
            raw: dict[str, Any] = {name: self._stage_param(name, dims[name]) for name in ("alpha_m", "a", "b", "c", "beta0")}
            if split:
                raw["a_between"] = self.priors["a"].create("a_between", dims="mediator")
                raw["c_between"] = self.priors["c"].create("c_between")
            if spec.confounders:
                raw["gamma_m"] = self.priors["gamma_m"].create("gamma_m", dims=dims["gamma_m"])
                raw["delta"] = self.priors["delta"].create("delta", dims=dims["delta"])
            if spec.mediator_edges:
                raw["d_edge"] = self.priors["d"].create("d_edge", dims=dims["d_edge"])
            if mode == "slopes":
                n_slopes = 2 * K + 1
                # the whole sd_slope prior is the SDs' distribution; lkj_eta's one
                # parameter, eta, is the LKJ shape (prior_rules refuses anything else)
                chol, corr, stds = pm.LKJCholeskyCov(
                    "chol_slope",
                    n=n_slopes,
                    eta=self.priors["lkj_eta"].params["eta"],
                    sd_dist=self.priors["sd_slope"].dist(shape=n_slopes),
                    compute_corr=True,
                    store_in_trace=False,
                )
                raw["sd_slope"] = pm.Deterministic("sd_slope", stds, dims=dims["sd_slope"])
                raw["corr_slope"] = pm.Deterministic("corr_slope", corr, dims=dims["corr_slope"])
                z = pm.Normal("z_slope", 0.0, 1.0, dims=("person", "slope"))
                raw["person_slope"] = pm.Deterministic("person_slope", z @ chol.T, dims=("person", "slope"))
            if mode != "none":
                raw["sd_u"] = self.priors["sd_u"].create("sd_u", dims="mediator")
            # normal mediators' person intercepts are integrated out analytically (intercepts
            # mode); every other person intercept is explicit and non-centred
            if explicit:
                raw["z_u"] = pm.Normal("z_u", 0.0, 1.0, dims=("person", "mediator_explicit"))
            if normal:
                raw["sigma_m"] = self.priors["sigma_m"].create("sigma_m", dims="mediator_normal")
            for med in spec.mediators:
                if med.family == "ordinal":
                    # the cutpoints prior for each cutpoint, restricted to increasing
                    # values by the ordered transform; the initial point is increasing
                    n_cut = len(med.categories) - 1
                    raw[f"cutpoints_{med.name}"] = self.priors["cutpoints"].create(
                        f"cutpoints_{med.name}",
                        transform=pm.distributions.transforms.ordered,
                        initval=np.linspace(-1.0, 1.0, n_cut),
                        dims=dims[f"cutpoints_{med.name}"],
                    )
            if mode != "none":
                raw["sd_v"] = self.priors["sd_v"].create("sd_v")
                if not quad_outcome:
                    raw["z_v"] = pm.Normal("z_v", 0.0, 1.0, dims="person")
            if spec.columns.cluster is not None:
                raw["sd_cluster"] = self.priors["sd_cluster"].create("sd_cluster")
                raw["z_cluster"] = pm.Normal("z_cluster", 0.0, 1.0, dims="cluster")
            if spec.outcome.family == "normal":
                raw["sigma_y"] = self.priors["sigma_y"].create("sigma_y")
            if spec.outcome.family == "negative_binomial":
                raw["phi"] = self.priors["phi"].create("phi")
            # the product terms ([[interactions]], [[moderation]]) after every other
            # variable: a spec without them keeps its parameter vector, graph and draws
            for name in PRODUCT_PARAMS:
                if name in dims:
                    raw[name] = self.priors[name].create(name, dims=dims[name])
            if imputed_vars:  # the imputed exposure and confounders: their model and latent values, last
                for name in IMPUTATION_PARAMS:
                    if name != "impute_sd" or "person_idx" in ds:
                        raw[name] = IMPUTATION_PRIORS[name][0].create(
                            name, dims=("imputed_variable", "stage") if name == "impute_mean" else "imputed_variable")
                if len(x_rows):
                    X = pt.set_subtensor(X[x_rows], pm.Flat(MISSING_EXPOSURE, dims="missing_exposure"))
                if imputed:
                    C = pt.set_subtensor(C[c_rows, c_cols], pm.Flat(MISSING_CONFOUNDERS, dims="missing_confounder"))
                tensors = [X if column is None else C[:, column] for _, _, column in imputed_vars]
                pm.Potential("imputation", imputation_model(
                    ds, len(spec.stage_levels), [(name, values, tensor) for (name, values, _), tensor
                                                 in zip(imputed_vars, tensors, strict=True)], raw))

            # the one translator: every parameter rule (structural.parameters)
            ops = pytensor_ops()
            params = structural_arrays(spec, raw, ops)
            persons = person_arrays(spec, raw, ops)

            # person effects per row --------------------------------------------------
            slope_a = slope_b = slope_c = 0.0
            if mode == "slopes":
                slope_a, slope_b, slope_c = split_slopes(persons["slopes"][person_idx], K)
            u = persons["u"][person_idx] if explicit else 0.0

            # mediators ------------------------------------------------------------
            eta_m = [
                None if k in marginal else equations.mediator_predictor(
                    params, k, x=X, C=C, stage_idx=stage_idx,
                    M=M_obs if spec.mediator_edges else None,
                    person_intercept=u[:, k] if explicit else 0.0,
                    person_slope=slope_a[:, k] if mode == "slopes" else 0.0,
                    x_between=X_between,
                )
                for k in range(K)
            ]
            latent = None  # the latent values of the missing mediator cells (Panel.latent_cells)
            M_rows: Any = M_obs  # the mediators, latent values in place
            if normal and m_obs.all() and not imputed_vars:
                if marginal:
                    self._marginal_normal_mediators(params, normal, raw["sigma_m"], raw["sd_u"])
                else:
                    pm.Normal("M_normal", mu=pt.stack([eta_m[k] for k in normal], axis=1),
                              sigma=raw["sigma_m"], observed=M_obs[:, normal],
                              dims=("obs", "mediator_normal"))
            elif normal:
                latent = self._normal_mediators_with_missing(normal, raw, eta_m, marginal, m_obs, cell_rows, cell_meds)
                if latent is not None:
                    M_rows = pt.set_subtensor(pt.as_tensor(M_obs)[cell_rows, cell_meds], latent)
                if marginal:
                    m_seen = m_obs.copy()
                    m_seen[cell_rows, cell_meds] = True
                    logps = marginal_mediators(spec, ds, params, normal, raw["sigma_m"], raw["sd_u"], M=M_rows,
                                               M_const=M_obs, m_seen=m_seen, C=C, C_const=C_const, X=X,
                                               X_const=X_const, special=special_c)
                    for k, logp in zip(normal, logps, strict=True):
                        pm.Potential(f"M_{spec.mediator_names[k]}", logp)
            quad = None
            if quad_outcome:
                rows = PersonRows.from_index(person_idx)
                quad = {"order": _data("quadrature_order", rows.order), "starts": _data("quadrature_starts", rows.starts),
                        "nodes": spec.structure.quadrature_nodes}
            for k, med in enumerate(spec.mediators):
                probit = med.link == "probit"  # the spec's link: logit (default) or probit
                seen = None if m_obs[:, k].all() or med.family == "normal" else np.flatnonzero(m_obs[:, k])
                eta_k, values_k, dims_k = ((eta_m[k], M_obs[:, k], "obs") if seen is None
                                           else (eta_m[k][seen], M_obs[seen, k], None))
                if k in quad_mediators:
                    lo, hi = _interval_bounds(med.family, M_obs[:, k], eta_m[k], raw.get(f"cutpoints_{med.name}"))
                    pm.Potential(f"M_{med.name}_integrated", interval_marginal_logp(
                        lo, hi, raw["sd_u"][k], quad["order"], quad["starts"], probit=probit, nodes=quad["nodes"]))
                elif med.family == "bernoulli" and probit:
                    _probit_bernoulli(f"M_{med.name}", eta_k, values_k, dims=dims_k)
                elif med.family == "bernoulli":
                    pm.Bernoulli(f"M_{med.name}", logit_p=eta_k, observed=values_k, dims=dims_k)
                elif med.family == "ordinal":
                    ordered = pm.OrderedProbit if probit else pm.OrderedLogistic
                    # compute_p=False: PyMC would otherwise store every row's category
                    # probabilities in the posterior (rows x categories per draw), and the
                    # convergence checks would compute R-hat and ESS for each of them
                    ordered(f"M_{med.name}", eta=eta_k, cutpoints=raw[f"cutpoints_{med.name}"],
                            observed=values_k.astype(int), dims=dims_k, compute_p=False)

            # outcome --------------------------------------------------------------
            def outcome_rows(values: Any) -> Any:
                """The rows of the outcome's likelihood: those with an observed outcome."""
                return values if y_rows is None else values[y_rows]

            v = 0.0
            if mode != "none" and not quad_outcome:
                v = persons["v"][_data("person_idx", outcome_rows(person_idx))]
            if spec.columns.cluster is not None:
                v = v + persons["cluster"][outcome_rows(ds["cluster_idx"].values)]
            # the outcome's fixed part as one product with a constant design matrix: its
            # value and gradient cost two dense products instead of a gather by stage
            # per path (equations.outcome_design; the same equation, tested)
            products = product_indices(spec)  # one column per declared product term
            design_y = equations.outcome_design(
                x=X_const, M=M_obs, C=C_const,
                stage_idx=stage_idx, n_stages=len(spec.stage_levels),
                x_between=ds["X_between"].values if split else None, products=products,
            )
            coefficients_y = equations.outcome_coefficients(
                params, with_between=split, concatenate=pt.concatenate, products=products,
            )
            eta_y = pt.dot(_data("outcome_design", outcome_rows(design_y)), coefficients_y)
            special_y = special_c.copy()  # rows of the outcome's likelihood holding a latent value
            special_y[cell_rows] = True
            special_y &= y_in
            if special_y.any():  # their fixed part from the structural equation itself
                rows = np.flatnonzero(special_y)
                eta_special = equations.outcome_predictor(
                    params, x=X[rows], M=M_rows[rows], C=C[rows],
                    stage_idx=stage_idx[rows], x_between=ds["X_between"].values[rows] if split else None,
                )
                position = rows if y_rows is None else np.searchsorted(y_rows, rows)
                eta_y = pt.set_subtensor(eta_y[position], eta_special)
            eta_y = eta_y + v
            if mode == "slopes":
                eta_y = eta_y + outcome_rows(slope_c * X + (slope_b * M_rows).sum(axis=1))
            if groups:  # missing binary / ordinal mediators summed out of their rows (model._missing)
                def outcome_at(rows: np.ndarray, M_values: Any) -> Any:
                    """The outcome's log-density at rows, with mediators M_values (rows, mediator)."""
                    v_rows: Any = persons["v"][person_idx[rows]] if mode != "none" else 0.0
                    if spec.columns.cluster is not None:
                        v_rows = v_rows + persons["cluster"][ds["cluster_idx"].values[rows]]
                    eta = equations.outcome_predictor(
                        params, x=X[rows], M=M_values, C=C[rows], stage_idx=stage_idx[rows],
                        x_between=ds["X_between"].values[rows] if split else None, person_intercept=v_rows,
                        person_slope_c=slope_c[rows] if mode == "slopes" else 0.0,
                        person_slope_b=slope_b[rows] if mode == "slopes" else 0.0,
                    )
                    return _outcome_logp(spec, ds["Y"].values[rows], eta, raw)

                logp, weights = discrete_mixture(
                    groups, M_rows, outcome_at,
                    lambda k, value, rows: _mediator_logp(spec.mediators[k], value, eta_m[k][rows],
                                                          raw.get(f"cutpoints_{spec.mediators[k].name}")),
                )
                pm.Potential("M_summed_out", logp)
                pm.Deterministic(MISSING_WEIGHTS, weights, dims="missing_component")
            y_values = outcome_rows(ds["Y"].values)
            if spec.outcome.family == "negative_binomial":
                y_values = y_values.astype(np.int64)  # float where the panel marks missing counts with NaN
            Y = _data("Y", y_values)
            family = spec.outcome.family
            if quad_outcome:
                if y_rows is not None:  # the persons with an observed outcome (the others contribute 0)
                    persons_y = np.unique(person_idx[y_rows], return_inverse=True)[1]
                    rows = PersonRows.from_index(persons_y)
                    quad = {**quad, "order": _data("quadrature_order", rows.order),
                            "starts": _data("quadrature_starts", rows.starts)}
                self._integrated_outcome(eta_y, Y, raw, quad, outcome_rows(person_idx), y_values)
            elif family == "bernoulli" and spec.outcome.link == "probit":
                _probit_bernoulli("Y", eta_y, Y, dims=y_dims)
            elif family == "bernoulli":
                # PyMC's Bernoulli(logit_p) evaluates a switch of two softplus terms per
                # row; the same log-density and its derivative in one pass with one exp
                # per row is cheaper (model._logit, benchmarks/README)
                pm.CustomDist(
                    "Y", eta_y, dist=_bernoulli_logit, logp=_bernoulli_logit_logp,
                    observed=Y, dims=y_dims,
                )
            elif family == "normal":
                pm.Normal("Y", mu=eta_y, sigma=raw["sigma_y"], observed=Y, dims=y_dims)
            else:
                pm.NegativeBinomial("Y", mu=pt.exp(eta_y), alpha=raw["phi"], observed=Y, dims=y_dims)
        return model

    def _integrated_outcome(self, eta_y: Any, Y: Any, raw: Mapping[str, Any], quad: Mapping[str, Any],
                            person_idx: np.ndarray, y: np.ndarray) -> None:
        """The outcome's likelihood with its person intercepts integrated out.

        Binary: adaptive Gauss-Hermite quadrature on the latent-error intervals; count:
        quadrature on the negative binomial's log-density; normal: analytically (waves
        compound-symmetric, as the normal mediators'), from per-person residual sums.
        """
        import pymc as pm
        import pytensor.tensor as pt

        spec = self.spec
        family = spec.outcome.family
        if family == "bernoulli":
            lo, hi = _interval_bounds("bernoulli", y, eta_y, None)
            logp = interval_marginal_logp(lo, hi, raw["sd_v"], quad["order"], quad["starts"],
                                          probit=spec.outcome.link == "probit", nodes=quad["nodes"])
        elif family == "negative_binomial":
            logp = count_marginal_logp(Y, eta_y, raw["phi"], raw["sd_v"], quad["order"], quad["starts"],
                                       nodes=quad["nodes"])
        else:
            n_persons = self.panel.n_persons
            counts = np.bincount(person_idx, minlength=n_persons)
            resid = Y - eta_y
            sums = pt.inc_subtensor(pt.zeros(n_persons)[_data("outcome_person_idx", person_idx)], resid)
            logp = _compound_symmetric_normal(sums[:, None], pt.sum(resid**2)[None], raw["sigma_y"][None],
                                              raw["sd_v"][None], counts, prefix="outcome_")[0]
        pm.Potential("Y_integrated", logp)

    def _marginal_normal_mediators(self, params: Mapping[str, Any], normal: list[int], sigma_m: Any, sd_u: Any) -> None:
        """Normal mediators with person intercepts integrated out, from sufficient statistics.

        The fixed part is ``D @ W_k`` (:func:`~carepaths.equations.mediator_design`), so
        the residual sum of squares and the per-person residual sums need only the
        constants D'D, D'M_k, M_k'M_k and per-person sums of D and M_k: the log-density
        costs O(persons x columns) instead of O(rows) per evaluation.
        (With missing values: :func:`carepaths.model._missing.marginal_mediators`.)
        """
        import pymc as pm
        import pytensor.tensor as pt

        spec, ds = self.spec, self.panel.dataset
        person_idx = ds["person_idx"].values
        M_obs = ds["M"].values
        split = spec.structure.center_exposure_within_person
        D = equations.mediator_design(
            x=ds["X_within" if split else "X"].values, C=ds["C"].values,
            stage_idx=ds["stage_idx"].values, n_stages=len(spec.stage_levels),
            M=M_obs if spec.mediator_edges else None,
            x_between=ds["X_between"].values if split else None,
            moderated="a_mod" in params,
        )
        n_persons = self.panel.n_persons
        counts = np.bincount(person_idx, minlength=n_persons)
        M_normal = M_obs[:, normal]
        sums = np.zeros((n_persons, len(normal)))
        np.add.at(sums, person_idx, M_normal)
        D_sum = np.zeros((n_persons, D.shape[1]))
        np.add.at(D_sum, person_idx, D)
        # all normal mediators at once: W is (column, mediator)
        W = equations.mediator_coefficient_matrix(
            params, with_edges=bool(spec.mediator_edges), with_between=split, with_moderation="a_mod" in params,
            concatenate=pt.concatenate,
        )[:, normal]
        rss = (
            _data("mediator_ss", (M_normal * M_normal).sum(axis=0))
            - 2.0 * pt.sum(_data("mediator_cross", D.T @ M_normal) * W, axis=0)
            + pt.sum(W * pt.dot(_data("mediator_gram", D.T @ D), W), axis=0)
        )
        per_person = _data("mediator_person_sums", sums) - pt.dot(_data("design_person_sums", D_sum), W)
        logp = _compound_symmetric_normal(per_person, rss, sigma_m, sd_u[normal], counts)
        for j, k in enumerate(normal):
            pm.Potential(f"M_{spec.mediator_names[k]}", logp[j])

    def _normal_mediators_with_missing(
        self, normal: list[int], raw: Mapping[str, Any], eta_m: list[Any], marginal: set[int], m_obs: np.ndarray,
        cell_rows: np.ndarray, cell_meds: np.ndarray,
    ) -> Any:
        """The latent values of missing normal mediators (and, without integrated intercepts,
        the normal mediators' likelihood of the observed values).

        A missing value in a row whose outcome is observed is a latent value of the model
        (``M_missing``, one per cell of :meth:`~carepaths.data.Panel.latent_cells`): with
        the person intercepts integrated out, a flat variable whose density is the
        mediator's compound-symmetric normal over the person's waves, observed and latent
        alike (:func:`carepaths.model._missing.marginal_mediators`); otherwise a normal
        variable given the row's predictor and person intercept. A missing value in a row
        whose outcome is missing too enters nothing.

        Returns
        -------
        tensor (cell,) or None
            The latent values (None without any).
        """
        import pymc as pm
        import pytensor.tensor as pt

        if marginal:
            return pm.Flat(MISSING_MEDIATORS, dims="missing_cell") if len(cell_rows) else None
        position = {k: j for j, k in enumerate(normal)}
        eta = pt.stack([eta_m[k] for k in normal], axis=1)  # (obs, mediator_normal)
        rows, cols = np.nonzero(m_obs[:, normal])
        sigma = raw["sigma_m"]
        pm.Normal("M_normal", mu=eta[rows, cols], sigma=sigma[cols],
                  observed=self.panel.dataset["M"].values[:, normal][rows, cols])
        if not len(cell_rows):
            return None
        cols_cell = np.array([position[k] for k in cell_meds], dtype=np.int64)
        return pm.Normal(MISSING_MEDIATORS, mu=eta[cell_rows, cols_cell], sigma=sigma[cols_cell], dims="missing_cell")

    # ---------------------------------------------------------------------- use
    def sample_prior_predictive(self, draws: int = 500, *, seed: int) -> Any:
        """Draws from the prior (and prior predictive of the outcome) as a DataTree.

        PyMC's raw forward draws: an ordinal mediator's cutpoints come unordered here
        (PyMC ignores the ordered transform when drawing); :meth:`prior_draws` sorts them,
        which is the model's prior.
        """
        import pymc as pm

        with self.model:
            return pm.sample_prior_predictive(draws=draws, random_seed=seed)

    def prior_draws(self, draws: int = 500, *, seed: int) -> ParameterSet:
        """Draws of every parameter from the prior, translated (no data involved).

        Parameters
        ----------
        draws : int
            Prior draws.
        seed : int
            Random seed.

        Returns
        -------
        ParameterSet
            One chain of ``draws`` draws (``source="prior"``).
        """
        import pymc as pm

        check_seed(seed)
        if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
            raise CarepathsError(f"draws must be a positive integer (prior draws), got {draws!r}.")
        m = self.model
        # the missing mediators' latent values are data, not parameters (and flat with
        # integrated intercepts): no prior draw of them
        names = [v.name for v in m.free_RVs if v.name not in (MISSING_MEDIATORS, MISSING_CONFOUNDERS, MISSING_EXPOSURE)]
        names += [v.name for v in m.deterministics if v.name != MISSING_WEIGHTS]
        with m, warnings.catch_warnings():
            # the Potentials are the normal mediators' likelihood: ignoring them is what a
            # prior draw of the parameters must do
            warnings.filterwarnings("ignore", message=".*Potential.*")
            prior = pm.sample_prior_predictive(draws=int(draws), var_names=names, random_seed=seed)
        draws_ds = _ordered_cutpoints(prior["prior"].to_dataset())
        return ParameterSet.from_draws(self.spec, self._prior_person_intercepts(draws_ds, seed), source="prior")

    def _prior_person_intercepts(self, draws: Any, seed: int) -> Any:
        """Prior draws of the person intercepts the model integrates out (``z_v``, ``z_u``).

        They are not variables of the model, so PyMC does not draw them; from the prior they
        are standard normal (scaled by each draw's SD in ``person_arrays``), exactly as the
        sampled parametrisation's ``z_v`` and ``z_u`` would be drawn.
        """
        import xarray as xr

        outcome, mediators = quadrature_intercepts(self.spec)
        if not outcome:
            return draws
        rng = np.random.default_rng([int(seed), 16])  # a stream of its own: PyMC's draws stay as they were
        chains, n_draws, persons = draws.sizes["chain"], draws.sizes["draw"], self.panel.n_persons
        coords = {"chain": draws["chain"], "draw": draws["draw"]}
        out = draws.assign(z_v=xr.DataArray(rng.standard_normal((chains, n_draws, persons)),
                                            dims=("chain", "draw", "person"), coords=coords))
        if mediators:
            z_u = rng.standard_normal((chains, n_draws, persons, len(mediators)))
            out = out.assign(z_u=xr.DataArray(z_u, dims=("chain", "draw", "person", "mediator_explicit"),
                                              coords=coords))
        return out

    def prior_check(self, draws: int = 500, *, seed: int) -> Checks:
        """Prior predictive checks by stage, before any fitting.

        Parameters are drawn from the priors (:meth:`prior_draws`), the panel is
        replicated from the structural equations at the observed exposures, confounders
        and stages (the persons' effects drawn from the prior too), and the statistics of
        :mod:`carepaths.checks.predictive` are compared with the data's: a flag here says
        the priors make the observed data implausible.

        Parameters
        ----------
        draws : int
            Prior draws.
        seed : int
            Random seed.

        Returns
        -------
        Checks
            See :class:`carepaths.checks.predictive.Checks` (no LOO without a posterior).
        """
        return predictive_prior_check(self.prior_draws(draws, seed=seed), self.panel, seed=seed)

    def fit(
        self,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 2,
        *,
        seed: int,
        sampler: str = "nutpie",
        target_accept: float | None = None,
        adaptation: str = "diag",
        progressbar: bool = False,
    ) -> Fit:
        """Sample the posterior with NUTS and return a :class:`~carepaths.model.fit.Fit`.

        Only the posterior is sampled: no prior or posterior predictive draws are taken.

        Parameters
        ----------
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        seed : int
            Random seed; the same data, spec, priors and seed give the same draws.
        sampler : {"nutpie", "pymc"}
            nutpie (Rust NUTS on a Numba-compiled log-density; the default and much
            faster here) or PyMC's own NUTS.
        target_accept : float, optional
            NUTS target acceptance rate. Default 0.95 when the outcome's person
            intercepts are integrated out (``person_intercepts = "integrated"``, the
            default with person intercepts), else 0.9: the integrated model's larger steps reach
            the neck of the stage-pooling funnel (``tau`` near 0) more often, and with 0.9
            two of four recovery fits had one divergent transition there (docs/model.md).
        adaptation : {"diag", "low_rank"}
            nutpie's mass-matrix adaptation (ignored by the pymc sampler).
        progressbar : bool
            Show sampling progress.

        Returns
        -------
        Fit
            The posterior with the spec, panel and priors; warns once if it did not
            converge (see :meth:`Fit.diagnostics`). Compile and sampling seconds are in
            ``fit.posterior.attrs``.
        """
        import pymc as pm
        from threadpoolctl import threadpool_limits

        if target_accept is None:
            target_accept = 0.95 if any(quadrature_intercepts(self.spec)) else 0.9
        _check_sampler_settings(draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                                target_accept=target_accept, adaptation=adaptation)
        # one BLAS thread per chain: the chains already occupy the cores, and OpenBLAS's own
        # threads on the outcome's design product (large enough to be threaded from about
        # 10,000 persons) made every chain wait on the other: 30 ms instead of 11 ms per
        # log-density at 20,000 persons with two chains (benchmarks/README.md, issue 16)
        with threadpool_limits(limits=1, user_api="blas"):
            posterior, timings = self._sample(pm, draws, tune, chains, seed, sampler, target_accept, adaptation,
                                              progressbar)
        posterior.attrs.update({k: float(v) for k, v in timings.items()})
        posterior.attrs["target_accept"] = float(target_accept)
        # where each prior came from; a string attribute, so Fit.save / load_fit keep it
        posterior.attrs[SOURCES_ATTR] = json.dumps(self.prior_sources)
        return Fit(posterior=posterior, spec=self.spec, panel=self.panel, priors=self.priors)

    def _sample(self, pm: Any, draws: int, tune: int, chains: int, seed: int, sampler: str, target_accept: float,
                adaptation: str, progressbar: bool) -> tuple[Any, dict[str, float]]:
        """The sampler's draws and its compile and sampling seconds (see :meth:`fit`)."""
        import time

        if sampler == "pymc":
            t0 = time.perf_counter()
            with self.model:
                posterior = pm.sample(
                    draws=draws, tune=tune, chains=chains, cores=min(chains, 2),
                    random_seed=seed, target_accept=target_accept,
                    progressbar=progressbar, compute_convergence_checks=False, nuts_sampler="pymc",
                )
            timings = {"compile_seconds": float("nan"), "sampling_seconds": time.perf_counter() - t0}
        else:
            import nutpie
            from pymc.backends.arviz import patch_nutpie_idata

            from carepaths.model._nutpie import compile_model

            t0 = time.perf_counter()
            compiled = compile_model(self.model)
            t1 = time.perf_counter()
            posterior = nutpie.sample(
                compiled, draws=draws, tune=tune, chains=chains, cores=min(chains, 2),
                seed=seed, target_accept=target_accept, adaptation=adaptation,
                progress_bar=progressbar, save_warmup=False,
            )
            t2 = time.perf_counter()
            patch_nutpie_idata(posterior, self.model, sampling_time=t2 - t1)
            timings = {"compile_seconds": t1 - t0, "sampling_seconds": t2 - t1}
        return posterior, timings


def _ordered_cutpoints(draws: Any) -> Any:
    """Prior draws with each draw's cutpoints sorted.

    PyMC draws the cutpoints forward from their prior without the ordered transform, so
    a draw is unordered; the model's prior is that prior restricted to increasing values,
    which for independent, identically distributed cutpoints is the law of the sorted
    draw (the order statistics).
    """
    for name in list(draws.data_vars):
        if name.startswith("cutpoints_"):
            var = draws[name]
            draws[name] = var.copy(data=np.sort(var.values, axis=-1))
    return draws


def _check_sampler_settings(
    *, draws: Any, tune: Any, chains: Any, seed: Any, sampler: Any, target_accept: Any, adaptation: Any
) -> None:
    """Refuse sampler settings that would sample nothing, or fail deep inside the sampler."""
    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise CarepathsError(
                f"{name} must be an integer >= {least}, got {value!r}"
                + (" (a fit with no draws has nothing to report)." if name == "draws" else ".")
            )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise CarepathsError(f"seed must be a non-negative integer (e.g. seed=1), got {seed!r}.")
    if sampler not in ("nutpie", "pymc"):
        raise CarepathsError(f"sampler must be 'nutpie' or 'pymc', got {sampler!r}.")
    if isinstance(target_accept, bool) or not isinstance(target_accept, int | float) or not 0 < target_accept < 1:
        raise CarepathsError(f"target_accept must be a number between 0 and 1 (e.g. 0.9), got {target_accept!r}.")
    if adaptation not in ("diag", "low_rank"):
        raise CarepathsError(f"adaptation must be 'diag' or 'low_rank', got {adaptation!r}.")


def _interval_bounds(family: str, y: np.ndarray, eta: Any, cutpoints: Any) -> tuple[Any, Any]:
    """Each row's latent-error interval (PyTensor; as ``person_integrals.interval_bounds``)."""
    import pytensor.tensor as pt

    if family == "bernoulli":
        yes = _data("interval_yes", (np.asarray(y) > 0.5))
        return pt.switch(yes, -eta, -np.inf), pt.switch(yes, np.inf, -eta)
    inf = pt.constant(np.array([np.inf]))
    cuts = pt.concatenate([-inf, cutpoints, inf])
    code = _data("interval_code", np.asarray(y).astype(np.int64))
    return cuts[code] - eta, cuts[code + 1] - eta
