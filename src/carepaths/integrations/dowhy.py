"""carepaths' Bayesian mediation model as a DoWhy estimator of the total effect.

:class:`BayesianMediationEstimator` is a DoWhy (0.14) ``CausalEstimator``: DoWhy hands it
a data frame, it fits the carepaths model (:class:`~carepaths.model.build.MediationModel`) on
it and returns the posterior mean of the pooled total effect on the difference scale,
``fit.effects(...).draws["TE"]`` at stage ``"pooled"``, as DoWhy's estimate; the
posterior interval is the confidence interval. DoWhy's refuters then run on the total
effect. This module imports DoWhy at import time (the class subclasses DoWhy's), so
import it only to use DoWhy; ``import carepaths`` does not load it.

DoWhy loads the class by the dotted method name :data:`METHOD_NAME`; the spec and the
fit settings travel in ``method_params``::

    from carepaths.causal.identify import dowhy_model
    from carepaths.integrations.dowhy import METHOD_NAME

    model = dowhy_model(spec, frame)  # a dowhy.CausalModel on carepaths' own graph
    estimand = model.identify_effect()
    estimate = model.estimate_effect(
        estimand,
        method_name=METHOD_NAME,
        method_params={"init_params": {"spec": spec, "draws": 500, "seed": 1}},
    )
    estimate.value                       # posterior mean of the pooled TE
    estimate.get_confidence_intervals()  # 95% equal-tailed posterior interval
    model.refute_estimate(estimand, estimate, "placebo_treatment_refuter",
                          placebo_type="permute", num_simulations=5)

What the refuters change, and what the estimator does with it
-------------------------------------------------------------
Every refutation refits the model from scratch (DoWhy deep-copies the estimator and calls
``fit`` on the new data): a refuter with ``num_simulations=n`` costs ``n`` fits.

placebo treatment
    DoWhy adds a column ``placebo`` and makes it the estimand's treatment. The
    estimator puts its values in the spec's exposure column (every other column as it
    was), so the model's exposure is the placebo and the original exposure is left out.
    For a float exposure DoWhy 0.14's default placebo is constant (drawn with SD 0), which
    the estimator refuses: pass ``placebo_type="permute"``.
random common cause
    DoWhy adds a standard-normal column ``w_random`` to the data and to the estimand's
    adjustment set. Every variable of the adjustment set that the spec does not know
    (neither a confounder nor a column of ``spec.columns``) joins the model as an extra
    confounder, of every mediator and the outcome as well as the exposure (numeric when
    the column is numeric or boolean, categorical with its sorted levels otherwise), since
    adjusting for it is what the refuter tests. The spec's own confounders are always
    adjusted for, whether or not the estimand lists them.
data subset
    DoWhy passes a random fraction of the rows; persons may lose waves, which the panel
    allows. A stage left with fewer than two rows raises the panel's error.
bootstrap
    Rows are resampled with replacement: a spec with person and wave columns then has
    duplicate person-waves, which the panel refuses. Use the data subset refuter.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from dowhy.causal_estimator import CausalEstimate, CausalEstimator
from dowhy.causal_identifier import IdentifiedEstimand

from carepaths.counterfactual.effects import POOLED, POPULATIONS, Effects
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, CarepathsWarning, SpecError
from carepaths.intervals import INTERVAL_KIND, INTERVAL_PROB
from carepaths.model.build import MediationModel
from carepaths.model.fit import Fit
from carepaths.spec import Contrast, Spec

__all__ = [
    "DEFAULT_CHAINS",
    "DEFAULT_DRAWS",
    "DEFAULT_SEED",
    "DEFAULT_TUNE",
    "METHOD_NAME",
    "BayesianMediationEstimator",
]

#: The ``method_name`` that makes DoWhy 0.14 load :class:`BayesianMediationEstimator`
#: (the identification method, then the class's dotted path).
METHOD_NAME = "backdoor.carepaths.integrations.dowhy.BayesianMediationEstimator"

#: Posterior draws per chain when ``draws`` is not given (as :meth:`MediationModel.fit`).
DEFAULT_DRAWS = 1000
#: Tuning steps per chain when ``tune`` is not given.
DEFAULT_TUNE = 1000
#: Chains when ``chains`` is not given.
DEFAULT_CHAINS = 2
#: Sampler seed when ``seed`` is not given (every refit uses the same seed).
DEFAULT_SEED = 0

_FIT_KEYS = ("draws", "tune", "chains", "seed")
_INIT_KEYS = ("spec", *_FIT_KEYS, "priors", "population", "contrast", "effects_seed")
# what DoWhy's base estimator takes besides the flags; passed on to it
_DOWHY_KEYS = (
    "num_null_simulations",
    "num_simulations",
    "sample_size_fraction",
    "need_conditional_estimates",
    "num_quantiles_to_discretize_cont_cols",
)
_HOW = (
    'pass it in method_params={"init_params": {"spec": spec, ...}} of CausalModel.estimate_effect'
)
_POSTERIOR_METHODS = (None, True, "default", "posterior")


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise CarepathsError(
            f"{name} must be an integer >= {minimum}, got {value!r}. Set it in "
            f'method_params={{"init_params": {{"{name}": ...}}}} (or "fit_params").'
        )
    return int(value)


def _one(names: Any, what: str) -> str:
    names = [names] if isinstance(names, str) else list(names or [])
    if len(names) != 1:
        raise CarepathsError(
            f"carepaths estimates the effect of one exposure on one outcome, but the DoWhy "
            f"estimand has {what} {names}. Build the CausalModel with a single {what} "
            "(carepaths.causal.identify.dowhy_model does)."
        )
    return str(names[0])


class BayesianMediationEstimator(CausalEstimator):
    """DoWhy estimator of the total effect by carepaths' Bayesian mediation model.

    DoWhy constructs it from ``method_name=METHOD_NAME`` and ``method_params``; the
    carepaths options go in ``method_params["init_params"]`` (or at the top level of
    ``method_params``), overrides of the fit settings in ``method_params["fit_params"]``.
    Unknown options raise.

    Parameters
    ----------
    identified_estimand : dowhy.causal_identifier.IdentifiedEstimand
        From ``CausalModel.identify_effect()``; a backdoor estimand whose outcome is the
        spec's outcome.
    test_significance, evaluate_effect_strength, confidence_intervals : bool or str
        DoWhy's flags. Confidence intervals and significance come from the posterior (no
        refits) unless DoWhy's ``"bootstrap"`` method is asked for, which refits the model
        once per bootstrap sample (399 by default).
    spec : Spec
        The carepaths spec of the data (required).
    draws, tune, chains : int, optional
        Posterior draws and tuning steps per chain, and chains; default
        :data:`DEFAULT_DRAWS` (1000), :data:`DEFAULT_TUNE` (1000), :data:`DEFAULT_CHAINS` (2).
    seed : int, optional
        Sampler seed, :data:`DEFAULT_SEED` (0) by default; every refit uses it.
    priors : mapping, optional
        Prior overrides, as for :class:`~carepaths.model.build.MediationModel`.
    population : {"marginal", "conditional"}, optional
        The g-computation population (:func:`~carepaths.counterfactual.effects.compute_effects`);
        ``"marginal"`` by default.
    contrast : Contrast or dict, optional
        The exposure contrast. By default DoWhy's ``control_value`` and
        ``treatment_value`` (0 and 1 unless ``estimate_effect`` is told otherwise), in the
        exposure's original units: ``{"kind": "values", "low": control, "high": treatment}``.
        Given, it replaces them (e.g. ``{"kind": "shift_sd", "size": 1}``).
    effects_seed : int, optional
        Seed of the g-computation's Monte Carlo draws; 0 by default, as ``Fit.effects``.
    confidence_level : float, optional
        Probability of the interval; by default the package's
        (:data:`carepaths.intervals.INTERVAL_PROB`, 0.95).
    init_params : mapping, optional
        The same options as a dict (DoWhy passes ``method_params["init_params"]`` here).
    fit_params : mapping, optional
        Overrides of ``draws``, ``tune``, ``chains`` and ``seed`` for :meth:`fit`; kept
        for the refits of the refuters.
    **kwargs
        DoWhy's other estimator arguments (``num_simulations`` and the like), and the
        ``carepaths_estimator`` entry DoWhy adds to ``method_params``.

    Attributes
    ----------
    spec : Spec
        The spec given.
    fit_result : Fit or None
        The latest fit (None before :meth:`fit`).
    fitted_spec : Spec or None
        The spec that fit used: :attr:`spec` plus :attr:`extra_confounders`.
    extra_confounders : tuple of str
        Adjustment-set variables of the estimand that the spec does not know (e.g.
        ``w_random``), adjusted for as extra confounders in the latest fit.
    fit_seconds : float
        Wall seconds of the latest fit (model compilation and sampling).
    effects : Effects or None
        The effect decomposition behind the latest estimate.

    Raises
    ------
    CarepathsError
        On a missing or wrong spec, an unknown option, a bad fit setting, or an estimand
        with several treatments or outcomes, or another outcome than the spec's.
    """

    def __init__(
        self,
        identified_estimand: IdentifiedEstimand,
        test_significance: bool | str = False,
        evaluate_effect_strength: bool = False,
        confidence_intervals: bool | str = False,
        *,
        spec: Spec | None = None,
        draws: int | None = None,
        tune: int | None = None,
        chains: int | None = None,
        seed: int | None = None,
        priors: Mapping[str, Any] | None = None,
        population: str | None = None,
        contrast: Contrast | Mapping[str, Any] | None = None,
        effects_seed: int | None = None,
        confidence_level: float | None = None,
        init_params: Mapping[str, Any] | None = None,
        fit_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        given = {
            "spec": spec,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "seed": seed,
            "priors": priors,
            "population": population,
            "contrast": contrast,
            "effects_seed": effects_seed,
        }
        dowhy_args = {k: kwargs.pop(k) for k in _DOWHY_KEYS if k in kwargs}
        unknown = [k for k in kwargs if not k.endswith("_estimator")]  # DoWhy's own marker
        if unknown:
            raise CarepathsError(
                f"unknown option(s) {unknown} for the carepaths DoWhy estimator. Options: "
                f"{', '.join(_INIT_KEYS)} (in method_params['init_params']), and "
                f"{', '.join(_FIT_KEYS)} (also in method_params['fit_params'])."
            )
        for key, value in dict(init_params or {}).items():
            if key not in _INIT_KEYS:
                raise CarepathsError(
                    f"unknown option {key!r} in method_params['init_params'] of the carepaths "
                    f"DoWhy estimator. Options: {', '.join(_INIT_KEYS)}."
                )
            if given[key] is not None:
                raise CarepathsError(
                    f"option {key!r} is given twice, in method_params and in its "
                    "'init_params': give it once."
                )
            given[key] = value
        if confidence_level is not None and not 0.0 < float(confidence_level) < 1.0:
            raise CarepathsError(
                f"confidence_level must lie strictly between 0 and 1, got {confidence_level!r}."
            )
        super().__init__(
            identified_estimand,
            test_significance=test_significance,
            evaluate_effect_strength=evaluate_effect_strength,
            confidence_intervals=confidence_intervals,
            confidence_level=INTERVAL_PROB if confidence_level is None else float(confidence_level),
            **dowhy_args,
        )
        spec = given["spec"]
        if not isinstance(spec, Spec):
            raise CarepathsError(
                "the carepaths DoWhy estimator needs the carepaths spec of the data"
                + ("" if spec is None else f" (got {type(spec).__name__})")
                + f": {_HOW}."
            )
        self.spec: Spec = spec
        self.draws = _count("draws", DEFAULT_DRAWS if given["draws"] is None else given["draws"], 1)
        self.tune = _count("tune", DEFAULT_TUNE if given["tune"] is None else given["tune"], 0)
        self.chains = _count(
            "chains", DEFAULT_CHAINS if given["chains"] is None else given["chains"], 1
        )
        self.seed = _count("seed", DEFAULT_SEED if given["seed"] is None else given["seed"], 0)
        self.effects_seed = _count(
            "effects_seed", 0 if given["effects_seed"] is None else given["effects_seed"], 0
        )
        self.priors = given["priors"]
        self.population = "marginal" if given["population"] is None else given["population"]
        if self.population not in POPULATIONS:
            raise CarepathsError(
                f"population must be one of {', '.join(POPULATIONS)}; got {self.population!r}."
            )
        self.contrast = given["contrast"]
        if self.contrast is not None and not isinstance(self.contrast, Contrast | Mapping):
            raise CarepathsError(
                "contrast must be None (DoWhy's control and treatment values), a carepaths "
                f"Contrast or a dict such as {{'kind': 'shift_sd', 'size': 1}}; got "
                f"{type(self.contrast).__name__}."
            )
        self._fit_params = self._check_fit_params(fit_params or {})
        self._check_estimand(identified_estimand)
        self.fit_result: Fit | None = None
        self.fitted_spec: Spec | None = None
        self.extra_confounders: tuple[str, ...] = ()
        self.fit_seconds = float("nan")
        self.effects: Effects | None = None
        self._te_draws: np.ndarray | None = None
        self.symbolic_estimator = ""

    # ---------------------------------------------------------------------- checks
    @staticmethod
    def _check_fit_params(fit_params: Mapping[str, Any]) -> dict[str, int]:
        unknown = [k for k in fit_params if k not in _FIT_KEYS]
        if unknown:
            raise CarepathsError(
                f"unknown fit setting(s) {unknown} in method_params['fit_params'] of the "
                f"carepaths DoWhy estimator. Fit settings: {', '.join(_FIT_KEYS)}."
            )
        return {k: _count(k, v, 0 if k in ("tune", "seed") else 1) for k, v in fit_params.items()}

    def _check_estimand(self, estimand: IdentifiedEstimand) -> tuple[str, str]:
        treatment = _one(estimand.treatment_variable, "treatment")
        outcome = _one(estimand.outcome_variable, "outcome")
        if outcome != self.spec.outcome.name:
            raise CarepathsError(
                f"the DoWhy estimand's outcome is {outcome!r} but the spec's outcome is "
                f"{self.spec.outcome.name!r}: build the CausalModel with "
                f"outcome={self.spec.outcome.name!r} (carepaths.causal.identify.dowhy_model does)."
            )
        return treatment, outcome

    # ---------------------------------------------------------------------- inputs
    def model_inputs(self, data: pd.DataFrame) -> tuple[Spec, pd.DataFrame, tuple[str, ...]]:
        """The spec and frame the model is fitted on, for the data DoWhy passes.

        The estimand's treatment, when it is not the spec's exposure (a placebo), is put
        in the exposure column; adjustment-set variables the spec does not know become
        extra confounders (see the module docstring).

        Parameters
        ----------
        data : pandas.DataFrame
            The data DoWhy passes to :meth:`fit`.

        Returns
        -------
        spec : Spec
            The spec, with the extra confounders appended when there are any.
        frame : pandas.DataFrame
            The data, with the exposure column replaced for a placebo (and a fresh index
            when the index had duplicates, as after a bootstrap resample).
        extra_confounders : tuple of str
            The confounders added.

        Raises
        ------
        CarepathsError
            If the data is not a DataFrame, lacks the treatment or an adjustment
            variable, the placebo is constant, or an adjustment variable is the exposure,
            a mediator or the outcome.
        """
        spec = self.spec
        if not isinstance(data, pd.DataFrame):
            raise CarepathsError(
                f"the DoWhy estimator needs a pandas DataFrame, got {type(data).__name__}."
            )
        treatment, _ = self._check_estimand(self._target_estimand)
        method = self._target_estimand.identifier_method or "backdoor"
        if not (method.startswith("backdoor") or method == "general_adjustment"):
            raise CarepathsError(
                f"carepaths estimates the total effect by adjustment, not by {method!r}: use "
                f"method_name={METHOD_NAME!r}."
            )
        x = spec.exposure.name
        frame = data
        if treatment != x:
            if treatment not in data.columns:
                raise CarepathsError(
                    f"the estimand's treatment {treatment!r} is not a column of the data."
                )
            if treatment in spec.variable_names:
                raise CarepathsError(
                    f"the estimand's treatment {treatment!r} is a variable of the spec other "
                    "than the exposure; carepaths estimates the effect of the spec's exposure "
                    f"{x!r} (or of a placebo in its place) only."
                )
            placebo = data[treatment]
            if placebo.nunique(dropna=False) < 2:
                raise CarepathsError(
                    f"the treatment column {treatment!r} that DoWhy passes (a placebo in place of "
                    f"{x!r}) is constant ({placebo.iloc[0]!r} in every row): DoWhy 0.14 draws the "
                    "default placebo of a float treatment from a normal with SD 0. Pass "
                    "placebo_type='permute' to refute_estimate."
                )
            frame = data.copy()
            frame[x] = placebo.to_numpy()
        index_columns = {c for c in (getattr(spec.columns, k) for k in spec.columns.KEYS) if c}
        known = set(spec.confounder_names) | index_columns
        adjustment = list(self._target_estimand.get_adjustment_set() or [])
        extras = tuple(dict.fromkeys(v for v in adjustment if v not in known))
        for v in extras:
            if v in (x, treatment, spec.outcome.name, *spec.mediator_names):
                raise CarepathsError(
                    f"the estimand adjusts for {v!r}, which the spec names as the exposure, a "
                    "mediator or the outcome: a model cannot adjust for those. Build the "
                    "CausalModel from the spec's graph (carepaths.causal.identify.dowhy_model)."
                )
            if v not in frame.columns:
                raise CarepathsError(
                    f"the estimand adjusts for {v!r}, which is not a column of the data DoWhy "
                    "passes: add the column, or identify the effect without it."
                )
        if extras:
            spec = _with_confounders(spec, extras, frame)
        if frame.index.has_duplicates:
            frame = frame.reset_index(drop=True)
        return spec, frame, extras

    # ---------------------------------------------------------------------- DoWhy API
    def fit(
        self,
        data: pd.DataFrame,
        effect_modifier_names: list[str] | None = None,
        **fit_params: Any,
    ) -> BayesianMediationEstimator:
        """Fit the carepaths model on ``data`` (DoWhy calls this, once per refutation).

        Parameters
        ----------
        data : pandas.DataFrame
            Every column the spec names, plus what a refuter adds.
        effect_modifier_names : list of str, optional
            Ignored with a warning when not empty: the estimate is the population-average
            total effect.
        **fit_params
            Overrides of ``draws``, ``tune``, ``chains``, ``seed`` (DoWhy passes
            ``method_params["fit_params"]`` here); kept for the refits.

        Returns
        -------
        BayesianMediationEstimator
            Itself, fitted.

        Raises
        ------
        CarepathsError, DataError
            See :meth:`model_inputs` and :meth:`carepaths.data.Panel.from_frame`.
        """
        settings = {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "seed": self.seed,
        }
        # the construction's fit_params, then these (DoWhy passes the same dict to both)
        fit_params = {**self._fit_params, **self._check_fit_params(fit_params)}
        settings.update(fit_params)
        self.reset_encoders()
        self._set_effect_modifiers(data, effect_modifier_names)
        if self._effect_modifier_names:
            warnings.warn(
                f"the carepaths DoWhy estimator ignores the effect modifiers "
                f"{self._effect_modifier_names}: it estimates the population-average total "
                "effect (per-stage effects are in estimate.effects).",
                CarepathsWarning,
                stacklevel=2,
            )
            self._effect_modifier_names = []
            self.need_conditional_estimates = False
        spec, frame, extras = self.model_inputs(data)
        panel = Panel.from_frame(frame, spec)
        t0 = time.perf_counter()
        self.fit_result = MediationModel(spec, panel, priors=self.priors).fit(
            draws=settings["draws"],
            tune=settings["tune"],
            chains=settings["chains"],
            seed=settings["seed"],
        )
        self.fit_seconds = time.perf_counter() - t0
        self.fitted_spec, self.extra_confounders = spec, extras
        self._fit_params = fit_params
        self.effects, self._te_draws = None, None
        treatment = _one(self._target_estimand.treatment_variable, "treatment")
        adjust = [*spec.confounder_names, *([spec.columns.stage] if spec.columns.stage else [])]
        self.symbolic_estimator = (
            f"carepaths g-computation of E[{spec.outcome.name} | do({treatment}=treatment)] - "
            f"E[{spec.outcome.name} | do({treatment}=control)], posterior mean over "
            f"{settings['chains']} x {settings['draws']} draws; adjusting for "
            f"{', '.join(adjust) or 'nothing'}; mediators {', '.join(spec.mediator_names)}"
        )
        return self

    def estimate_effect(
        self,
        data: pd.DataFrame | None = None,
        treatment_value: Any = 1,
        control_value: Any = 0,
        target_units: Any = "ate",
        **_: Any,
    ) -> CausalEstimate:
        """The posterior mean of the pooled total effect, as a DoWhy ``CausalEstimate``.

        Parameters
        ----------
        data : pandas.DataFrame, optional
            The data of the fit (DoWhy passes it again); other data raises.
        treatment_value, control_value : float
            The exposure values contrasted, in original units (1 and 0 for a binary
            exposure), unless the estimator was given a ``contrast``.
        target_units : str
            ``"ate"`` only.

        Returns
        -------
        dowhy.causal_estimator.CausalEstimate
            ``value`` is the posterior mean of ``TE`` at stage ``"pooled"`` (difference
            scale). Also ``posterior_sd`` (its posterior SD) and ``effects`` (the
            carepaths :class:`~carepaths.counterfactual.effects.Effects`, per stage and mechanism).

        Raises
        ------
        CarepathsError
            Before :meth:`fit`, for target units other than ``"ate"``, for data of another
            size than the fit's, or for contrast values a binary exposure cannot take.
        IdentificationError
            If the spec's graph does not identify the effects (from ``Fit.effects``).
        """
        fit = self._require_fit("estimate_effect")
        if not (isinstance(target_units, str) and target_units == "ate"):
            raise CarepathsError(
                f"target_units must be 'ate' for the carepaths DoWhy estimator (got "
                f"{target_units!r}): it estimates the average total effect over the data."
            )
        if data is not None and len(data) != fit.panel.n_obs:
            raise CarepathsError(
                f"estimate_effect got {len(data)} rows but the model was fitted on "
                f"{fit.panel.n_obs}: the estimate is for the data of the fit. Refit "
                "(fit_estimator=True) to estimate on other data."
            )
        self._treatment_value, self._control_value, self._target_units = (
            treatment_value,
            control_value,
            target_units,
        )
        contrast = (
            self.contrast
            if self.contrast is not None
            else self._dowhy_contrast(treatment_value, control_value)
        )
        effects = fit.effects(
            contrast,
            scale="difference",
            by="stage",
            population=self.population,
            seed=self.effects_seed,
            estimands=["TE"],  # DoWhy estimates the total effect: only it must be identified
        )
        te = np.asarray(effects.draws["TE"].sel(stage=POOLED).values, dtype=float).reshape(-1)
        self.effects, self._te_draws = effects, te
        estimate = CausalEstimate(
            data=data,
            treatment_name=self._target_estimand.treatment_variable,
            outcome_name=self._target_estimand.outcome_variable,
            estimate=float(te.mean()),
            control_value=control_value,
            treatment_value=treatment_value,
            conditional_estimates=None,
            target_estimand=self._target_estimand,
            realized_estimand_expr=self.symbolic_estimator,
            posterior_sd=float(te.std(ddof=1)),
            effects=effects,
        )
        estimate.add_estimator(self)
        return estimate

    def construct_symbolic_estimator(self, estimand: IdentifiedEstimand) -> str:
        """A one-line description of what the estimate is (set by :meth:`fit`)."""
        return self.symbolic_estimator

    # ----------------------------------------------------- posterior uncertainty
    def _estimate_confidence_intervals(
        self, confidence_level: float | None = None, method: Any = None, **kwargs: Any
    ) -> tuple[float, float]:
        """Equal-tailed posterior interval of the pooled TE (no refits)."""
        draws = self._require_draws("get_confidence_intervals", method)
        level = self.confidence_level if confidence_level is None else float(confidence_level)
        if not 0.0 < level < 1.0:
            raise CarepathsError(
                f"confidence_level must lie strictly between 0 and 1, got {level!r}."
            )
        tail = (1.0 - level) / 2.0
        lower, upper = np.quantile(draws, [tail, 1.0 - tail])
        return float(lower), float(upper)

    def _estimate_std_error(self, method: Any = None, **kwargs: Any) -> float:
        """Posterior SD of the pooled TE (no refits)."""
        return float(self._require_draws("get_standard_error", method).std(ddof=1))

    def _test_significance(
        self, estimate_value: float, method: Any = None, **kwargs: Any
    ) -> dict[str, float]:
        """Two-sided posterior tail probability ``2 min(P(TE > 0), P(TE < 0))``.

        Reported in DoWhy's ``p_value`` slot; it is a posterior probability, not a
        frequentist p-value (no refits).
        """
        draws = self._require_draws("test_stat_significance", method)
        return {"p_value": float(min(1.0, 2.0 * min(np.mean(draws > 0), np.mean(draws < 0))))}

    # ---------------------------------------------------------------------- helpers
    def _dowhy_contrast(self, treatment_value: Any, control_value: Any) -> Contrast:
        values = []
        for name, v in (("control_value", control_value), ("treatment_value", treatment_value)):
            if isinstance(v, bool) or not isinstance(v, int | float | np.number):
                raise CarepathsError(
                    f"{name} must be one number (an exposure value in original units), got {v!r}."
                )
            values.append(float(v))
        low, high = values
        if low == high:
            raise CarepathsError(
                f"control_value and treatment_value are both {low:g}: they must differ."
            )
        if self.spec.exposure.kind == "binary" and {low, high} != {0.0, 1.0}:
            raise CarepathsError(
                f"the exposure {self.spec.exposure.name!r} is binary, so control_value and "
                f"treatment_value must be 0 and 1 (got {low:g} and {high:g})."
            )
        return Contrast(kind="values", size=None, low=low, high=high)

    def _require_fit(self, method: str) -> Fit:
        if self.fit_result is None:
            raise CarepathsError(f"{method} needs a fitted estimator: call fit(data) first.")
        return self.fit_result

    def _require_draws(self, what: str, method: Any) -> np.ndarray:
        if method not in _POSTERIOR_METHODS:
            raise CarepathsError(
                f"{what}: method {method!r} is not offered; the carepaths estimator uses the "
                f"posterior ({INTERVAL_KIND} intervals, method=None), or DoWhy's "
                "method='bootstrap', which refits the model once per bootstrap sample."
            )
        if self._te_draws is None:
            raise CarepathsError(f"{what} needs an estimate: call estimate_effect first.")
        return self._te_draws


def _with_confounders(spec: Spec, names: tuple[str, ...], frame: pd.DataFrame) -> Spec:
    """``spec`` with ``names`` appended to its confounders (numeric or categorical)."""
    d = spec.to_dict()
    added = []
    for name in names:
        column = frame[name]
        entry: dict[str, Any] = {
            "name": name,
            "description": (
                "Added by the DoWhy estimator: in the estimand's adjustment set, not in the spec."
            ),
        }
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            levels = sorted(set(column.dropna().astype(str)))
            entry.update(kind="categorical", levels=levels, reference=levels[0] if levels else None)
        added.append(entry)
    d["confounders"] = [*d.get("confounders", []), *added]
    try:
        return Spec.from_dict(d)
    except SpecError as err:
        raise CarepathsError(
            f"the DoWhy estimand adjusts for {', '.join(names)}, which the spec does not "
            f"have as confounders, and adding them to the spec fails: {err} Add them to the "
            "spec's [[confounders]] yourself (removing their [graph] edges), or identify the "
            "effect with the spec's own adjustment set."
        ) from err
