"""Missing binary and ordinal mediators summed out of their rows (issue 17, missing="model").

The likelihood is checked against the mixture written here in NumPy and SciPy (each row's
outcome and mediator densities summed over the missing values, every combination of two
missing mediators in one row); the downstream draws against their weights; then one small
real fit runs through the effects, and its posterior weights are checked against the
values the simulator knows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special

import carepaths
from carepaths import DataError, Panel
from carepaths.model.build import MediationModel
from helpers import logp_of as _logp_of
from helpers import potential as _potential
from carepaths.structural import mixtures


def _spec(*, sampled: bool = True, ordinal: bool = False):
    data = carepaths.load_spec().to_dict()
    data["mediators"][0]["family"] = "bernoulli"  # encouragement
    if ordinal:  # confidence: three ordered categories
        data["mediators"][3]["family"] = "ordinal"
        data["mediators"][3]["categories"] = [1, 2, 3]
    if sampled:
        data["structure"]["person_intercepts"] = "sampled"
    return carepaths.Spec.from_dict(data)




# ----------------------------------------------------------------------------- the Panel
def test_under_integrated_intercepts_a_missing_binary_mediator_is_refused_with_the_way_out():
    spec = _spec(sampled=False)
    frame = carepaths.simulate(spec, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[2, 6], "encouragement"] = np.nan
    with pytest.raises(DataError, match=r"column 'encouragement' \(a bernoulli mediator\) has 2 missing.*rows 2, 6"
                                        r".*person_intercepts = \"sampled\".*missing='drop'"):
        Panel.from_frame(frame, spec, missing="model")


def test_the_panel_keeps_the_rows_and_says_how_the_values_are_handled():
    spec = _spec(ordinal=True)
    frame = carepaths.simulate(spec, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[2, 6], "encouragement"] = np.nan
    frame.loc[[6, 11], "confidence"] = np.nan
    panel = Panel.from_frame(frame, spec, missing="model")
    assert panel.n_obs == len(frame) and len(panel.dropped) == 0
    M = panel.dataset["M"].values
    assert np.isnan(M[[2, 6], 0]).all() and np.isnan(M[[6, 11], 3]).all()
    # ordinal codes 1..3 become 0..2 around the gaps
    assert set(np.unique(M[~np.isnan(M[:, 3]), 3])) <= {0.0, 1.0, 2.0}
    handled = panel.missing().attrs["handled"]
    assert handled["encouragement"].startswith("modelled: summed over its values")
    assert handled["confidence"].startswith("modelled: summed over its values")
    assert len(panel.latent_cells()[0]) == 0  # none of them is a continuous latent value
    groups = mixtures.mixture_groups(spec, M, panel.observed()[0])
    assert [g.rows.tolist() for g in groups] == [[2], [6], [11]]
    assert [g.mediators.tolist() for g in groups] == [[0], [0, 3], [3]]
    # row 6: every combination of the two values, 2 x 3
    np.testing.assert_array_equal(groups[1].values, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
    assert [g.offset for g in groups] == [0, 2, 8]


# ----------------------------------------------------------------------------- the likelihood
def test_missing_binary_and_ordinal_mediators_are_summed_out_of_their_rows():
    """The mediators' and the outcome's log-densities at a point, against the mixture by hand.

    At a point with every confounder coefficient 0 (the initial point), stage intercepts
    and paths set, and person intercepts sd * z: the rows with an observed encouragement
    enter its bernoulli likelihood; the rows missing it (and confidence) with an observed
    outcome enter ``log sum_c P(M = c) P(Y | M = c)``; the row missing both mediator and
    outcome enters nothing.
    """
    spec = _spec(ordinal=True)
    frame = carepaths.simulate(spec, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[2, 6, 9], "encouragement"] = np.nan
    frame.loc[[6, 11], "confidence"] = np.nan
    frame.loc[[9, 30], "care_use"] = np.nan  # row 9: encouragement and outcome missing
    panel = Panel.from_frame(frame, spec, missing="model")
    model = MediationModel(spec, panel).model
    rng = np.random.default_rng(0)
    point = model.initial_point()
    n_persons = panel.n_persons
    alpha_m = rng.normal(0, 0.5, (5, 3))
    a = rng.normal(0, 0.5, (5, 3))
    b = rng.normal(0, 0.5, (5, 3))
    c = rng.normal(0, 0.5, 3)
    beta0 = rng.normal(0, 0.5, 3)
    z_u = rng.normal(size=(n_persons, 2))
    z_v = rng.normal(size=n_persons)
    sd_u, sd_v = np.full(5, 0.6), 0.8
    cuts = np.array([-0.7, 0.9])
    point.update(alpha_m=alpha_m, a=a, b=b, c=c, beta0=beta0, z_u=z_u, z_v=z_v,
                 sd_u_log__=np.log(sd_u), sd_v_log__=np.log(sd_v),
                 cutpoints_confidence_ordered__=np.array([cuts[0], np.log(cuts[1] - cuts[0])]))
    for name in ("gamma_m", "delta"):
        assert not np.any(point[name])
    ds = panel.dataset
    x, stage, person = ds["X"].values, ds["stage_idx"].values, ds["person_idx"].values
    M, y = ds["M"].values, ds["Y"].values
    explicit = {0: 0, 3: 1}  # z_u's columns: the binary and ordinal mediators
    alpha_m = alpha_m.copy()
    alpha_m[3, 0] = 0.0  # an ordinal mediator's first-stage intercept is its cutpoints' (identification)
    eta_m = {k: alpha_m[k, stage] + a[k, stage] * x + sd_u[k] * z_u[person, j] for k, j in explicit.items()}

    def log_p_m(k, value, rows):
        if k == 0:
            return special.log_expit((2 * value - 1) * eta_m[0][rows])
        upper = np.append(cuts, np.inf)[int(value)]
        lower = np.insert(cuts, 0, -np.inf)[int(value)]
        e = eta_m[3][rows]
        return np.log(special.expit(upper - e) - special.expit(lower - e))

    def log_p_y(rows, m_rows):
        eta = beta0[stage[rows]] + c[stage[rows]] * x[rows] + np.einsum("rk,kr->r", m_rows, b[:, stage[rows]])
        eta += sd_v * z_v[person[rows]]
        return np.where(y[rows] > 0.5, special.log_expit(eta), special.log_expit(-eta))

    # the observed values' own likelihoods
    seen0, seen3 = ~np.isnan(M[:, 0]), ~np.isnan(M[:, 3])
    enc = _logp_of(model, model.logp(vars=[model["M_encouragement"]]), point)
    assert enc == pytest.approx(sum(log_p_m(0, v, [r]).item() for r, v in zip(np.flatnonzero(seen0), M[seen0, 0])),
                                rel=1e-10)
    conf = _logp_of(model, model.logp(vars=[model["M_confidence"]]), point)
    assert conf == pytest.approx(sum(log_p_m(3, v, [r]).item() for r, v in zip(np.flatnonzero(seen3), M[seen3, 3])),
                                 rel=1e-10)
    # the mixture: rows 2 (encouragement), 6 (both) and 11 (confidence)
    expected = 0.0
    for r, missing in ((2, [0]), (6, [0, 3]), (11, [3])):
        levels = [range(2) if k == 0 else range(3) for k in missing]
        terms = []
        for values in np.array(np.meshgrid(*levels, indexing="ij")).reshape(len(missing), -1).T:
            m_row = M[[r]].copy()
            m_row[0, missing] = values
            terms.append(log_p_y([r], m_row).item() + sum(log_p_m(k, v, [r]).item()
                                                          for k, v in zip(missing, values)))
        expected += special.logsumexp(terms)
    assert _logp_of(model, _potential(model, "M_summed_out"), point) == pytest.approx(expected, rel=1e-10)
    # the outcome's own likelihood: every row with an observed outcome and no summed-out value
    rows = np.setdiff1d(np.flatnonzero(~np.isnan(y)), [2, 6, 11])
    value = _logp_of(model, model.logp(vars=[model["Y"]]), point)
    assert value == pytest.approx(log_p_y(rows, M[rows]).sum(), rel=1e-10)


def test_each_draw_takes_its_values_in_proportion_to_the_weights():
    """draw_components against known weights: the share of draws taking each value.

    4,000 draws: a share's Monte Carlo SD is at most 0.008; tolerance 0.03 (4 SDs).
    """
    groups = [mixtures.MixtureGroup(rows=np.array([1, 3]), mediators=np.array([0]), values=np.array([[0.0], [1.0]]),
                                    offset=0),
              mixtures.MixtureGroup(rows=np.array([2]), mediators=np.array([0, 1]),
                                    values=np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), offset=4)]
    n = 4000
    w = np.array([0.2, 0.8, 0.7, 0.3, 0.1, 0.2, 0.3, 0.4])
    weights = np.tile(w, (n, 1))
    M = np.zeros((5, 2, n))
    mixtures.draw_components(groups, weights, np.random.default_rng(1).random((n, 3)), M)
    assert M[1, 0].mean() == pytest.approx(0.8, abs=0.03)
    assert M[3, 0].mean() == pytest.approx(0.3, abs=0.03)
    pairs = M[2, 0] * 2 + M[2, 1]
    for code, share in enumerate(w[4:]):
        assert np.mean(pairs == code) == pytest.approx(share, abs=0.03)
    assert not M[[0, 4]].any()  # other rows untouched


# ----------------------------------------------------------------------------- a real fit
@pytest.fixture(scope="module")
def fitted():
    """150 persons x 4 waves, MAR item missingness at 30%, encouragement binary and confidence
    ordinal (categories 1-3); encouragement made informative
    about the person and the outcome (person-intercept SD 1.5, path b 1.0 in every stage)
    so that its imputations can be told apart from its observed share."""
    from carepaths.simulation import default_params

    spec = _spec(ordinal=True)
    truth = default_params(spec)
    sd_u, b = np.array(truth["sd_u"], dtype=float), np.array(truth["b"], dtype=float)
    sd_u[0], b[0] = 1.5, 1.0
    sim = carepaths.simulate(spec, 150, 4, {"sd_u": sd_u, "b": b}, seed=5, mc_persons=2000,
                             missing={"mechanism": "mar", "rate": 0.3, "pattern": "items"})
    panel = Panel.from_frame(sim.data, spec, missing="model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        fit = MediationModel(spec, panel).fit(draws=300, tune=400, seed=3)
    return sim, fit


def test_a_fit_with_summed_out_mediators_runs_everything_downstream(fitted, tmp_path):
    from carepaths.model.fit import load_fit

    sim, fit = fitted
    groups = mixtures.mixture_groups(fit.spec, fit.panel.dataset["M"].values, fit.panel.observed()[0])
    n = sum(g.size for g in groups)
    assert n > 100 and {tuple(g.mediators) for g in groups} >= {(0,), (3,)}
    weights = fit.posterior["posterior"][mixtures.MISSING_WEIGHTS].values.reshape(600, n)
    for g in groups:  # each row's weights sum to 1
        block = weights[:, g.offset:g.offset + g.size].reshape(600, len(g.rows), len(g.values))
        np.testing.assert_allclose(block.sum(axis=2), 1.0, rtol=1e-9)
    checked = set(fit.parameter_diagnostics().index.str.split("[").str[0])
    assert mixtures.MISSING_WEIGHTS not in checked  # one per row, like person effects
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        warnings.filterwarnings("ignore", message="PSIS-LOO")  # 300 draws of a small panel
        first = fit.effects(population="conditional").summary()
        marginal = fit.effects(population="marginal").summary()
        checks = fit.check(draws=40, seed=1)
        sens = fit.sensitivity(mediator="confidence")
        path = fit.save(tmp_path / "fit.nc")
        again = load_fit(path).effects(population="conditional").summary()
    assert np.isfinite(first["mean"].to_numpy()).all() and np.isfinite(marginal["mean"].to_numpy()).all()
    # the same fit draws the same summed-out values: the saved and loaded fit's effects are equal
    np.testing.assert_array_equal(first["mean"].to_numpy(), again["mean"].to_numpy())
    # checks compare the observed values only; LOO over the persons with an observed outcome
    table = checks.table()
    crisis = sim.data["stage"] == "crisis"
    observed = table.loc[("confidence", "mean", "crisis", "all"), "observed"]
    assert observed == pytest.approx(sim.data.loc[crisis, "confidence"].mean())
    assert checks.loo.pareto_k.size == sim.data.loc[sim.data["care_use"].notna(), "person"].nunique()
    assert sens is not None


def test_the_posterior_weights_predict_the_values_the_simulator_knows(fitted):
    """The posterior probability that a summed-out encouragement is 1, against the truth.

    Its Brier score must beat the observed share's (what ignoring the row's stage,
    exposure, person and outcome would give): with the person's other waves (sd_u 1.5 on
    the logit scale) and the row's outcome (b 1.0) it was 0.75 to 0.82 of that share's
    score over three seeds (about 60 summed-out cells each, so the ratio's Monte Carlo SD
    is about 0.05); tolerance below 0.92. The weights' mean matches the true share of 1s
    among the summed-out cells within 3 binomial SDs.
    """
    sim, fit = fitted
    panel = fit.panel
    groups = mixtures.mixture_groups(fit.spec, panel.dataset["M"].values, panel.observed()[0])
    weights = fit.posterior["posterior"][mixtures.MISSING_WEIGHTS].mean(("chain", "draw")).values
    rows, p_one = [], []
    for g in groups:  # P(encouragement = 1): the weights of the components where it is 1
        if 0 in g.mediators:
            j = list(g.mediators).index(0)
            block = weights[g.offset:g.offset + g.size].reshape(len(g.rows), len(g.values))
            rows.append(g.rows)
            p_one.append(block[:, g.values[:, j] == 1].sum(axis=1))
    rows, p_one = np.concatenate(rows), np.concatenate(p_one)
    labels = panel.dataset["row"].values[rows]
    truth = sim.complete_data.loc[labels, "encouragement"].to_numpy(float)
    share = np.nanmean(panel.dataset["M"].values[:, 0])
    brier, baseline = np.mean((p_one - truth) ** 2), np.mean((share - truth) ** 2)
    assert brier < 0.92 * baseline, (brier, baseline)
    assert abs(p_one.mean() - truth.mean()) < 3 * np.sqrt(0.25 / len(truth))
