"""The self-contained HTML report of a fitted model.

:func:`build_report` turns a fit and its answers (effects, predictive checks, an
intervention comparison) into one ``report.html`` whose figures are embedded as base64
PNG (the file can be mailed or archived on its own) and writes every table beside it as
CSV. :func:`carepaths.report.demo.run_demo` (``carepaths demo``, ``make demo``) builds
one for the default five-mechanism panel.

Sections of the report (``<h2>`` titles, in order; :data:`SECTIONS`)
--------------------------------------------------------------------
``Data``
    What was fitted: rows, persons, waves, stages, and the fit's chains and draws.
``Causal graph and identification``
    The graph the spec implies and, per effect, whether it is identified, the
    adjustment set and, when not, the reason and the offending path.
``Convergence``
    The convergence checks of :meth:`carepaths.Fit.diagnostics`; a fit that did not
    converge also gets a red banner at the top of the report.
``Effect decomposition by stage``
    TE, NDE, NIE, each mechanism's interventional indirect effect and the
    interdependence remainder (where it is not 0 by construction) per stage, as a
    forest plot and a table with the package interval
    (:func:`carepaths.intervals.interval_label`); titled ``Effect decomposition`` and
    without stages when the spec has none.
``The support paradox``
    Only when the spec defines the paradox (its ``[paradox]`` table): the posterior
    probability that the exposure raises the outcome in one stage and lowers it in
    another, in words, computed from the effect draws (never typed in).
``Sensitivity to unmeasured confounding``
    Each effect against rho, the correlation of the mediators' and the outcome's errors
    that an unmeasured mediator-outcome confounder would create, by stage, with the rho at
    which each effect's mean and interval reach 0 marked and tabled, the mediational
    E-values, and the total effect's bias analysis for exposure-outcome confounding
    (:meth:`carepaths.Fit.sensitivity`).
``Predictive checks``
    The per-stage check panel, the replicated-vs-observed distributions, the LOO-PIT and
    the flagged statistics.
``Intervention comparison``
    The expected outcome under each intervention, by stage, as a figure and a table.
``Files``
    The files written beside the report and the seconds each step took.

:func:`report_sections` gives the titles a spec's report has. Every probability in a
table is printed by :func:`carepaths.results.probability_text`, so none reads as
certainty (``> 0.999`` rather than ``1.000``).
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carepaths.causal.graph import CausalGraph
from carepaths.checks.predictive import Checks
from carepaths.counterfactual.comparison import Comparison
from carepaths.counterfactual.effects import Effects
from carepaths.counterfactual.sensitivity import Sensitivity
from carepaths.exceptions import CarepathsError
from carepaths.files import check_output_dir, write_text, write_with
from carepaths.intervals import interval_label
from carepaths.model.fit import Fit
from carepaths.report.paradox import effect_stages, paradox_sentences, paradox_table, spec_paradox
from carepaths.results import probability_text
from carepaths.spec import Spec

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "Report",
    "SECTIONS",
    "build_report",
    "report_sections",
    "figure_to_data_uri",
]

#: The ``<h2>`` section titles of every report, in order.
SECTIONS = (
    "Data",
    "Causal graph and identification",
    "Convergence",
    "Effect decomposition by stage",
    "The support paradox",
    "Sensitivity to unmeasured confounding",
    "Predictive checks",
    "Intervention comparison",
    "Files",
)
#: Only in the report of a spec with a ``[time]`` table, before ``Files``.
TRAJECTORIES_SECTION = "Care trajectories over waves"

EFFECTS_SECTION, PARADOX_SECTION, SENSITIVITY_SECTION = SECTIONS[3], SECTIONS[4], SECTIONS[5]


def report_sections(spec: Spec) -> tuple[str, ...]:
    """The ``<h2>`` titles of a report for ``spec``, in order.

    :data:`SECTIONS` for a spec with stages and a paradox; without stages the effects
    section is ``Effect decomposition``, without a ``[paradox]`` table there is no paradox
    section, and with a ``[time]`` table :data:`TRAJECTORIES_SECTION` comes before
    ``Files``.
    """
    staged = len(spec.stage_levels) > 1
    out = []
    for title in SECTIONS:
        if title == PARADOX_SECTION and spec_paradox(spec) is None:
            continue
        if title == "Files" and spec.time is not None:
            out.append(TRAJECTORIES_SECTION)
        out.append("Effect decomposition" if title == EFFECTS_SECTION and not staged else title)
    return tuple(out)


#: Replicated data sets overlaid in the report's predictive-distribution figure.
PPC_SAMPLES = 25

Progress = Callable[[str], None]


@dataclass
class Report:
    """What :func:`build_report` (or :func:`run_demo`) wrote.

    Attributes
    ----------
    path : pathlib.Path
        The HTML report.
    files : dict of str to pathlib.Path
        Every file written, by a short name (``"effects"``, ``"fit"``, ...).
    converged : bool
        Whether the fit behind the report converged.
    seconds : dict of str to float
        Wall-clock seconds of each step (``"total"`` included for the demo).
    paradox : list of str
        The paradox sentences as they appear in the report.
    warnings : list of str
        Warnings raised while computing (convergence, Pareto k, ...), each once.
    """

    path: Path
    files: dict[str, Path]
    converged: bool
    seconds: dict[str, float] = field(default_factory=dict)
    paradox: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- HTML pieces
def figure_to_data_uri(fig: Figure, *, dpi: int = 110) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (pyplot-registered or not).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    str
        The data URI, ready for an ``<img src=...>``.
    """
    buf = io.BytesIO()
    import matplotlib.pyplot as plt

    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)  # a figure made with pyplot stays open otherwise; a no-op for others
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _as_figure(obj: Any) -> Figure:
    """A matplotlib Figure from a Figure or an object holding one (arviz-plots, axes)."""
    from matplotlib.figure import Figure

    if isinstance(obj, Figure):
        return obj
    for attr in ("figure", "fig"):
        inner = getattr(obj, attr, None)
        if isinstance(inner, Figure):
            return inner
    get_figure = getattr(obj, "get_figure", None)
    if callable(get_figure):
        return get_figure()
    raise CarepathsError(f"cannot embed a {type(obj).__name__} in the report: expected a matplotlib Figure.")


def _img(fig: Any, alt: str, caption: str) -> str:
    uri = figure_to_data_uri(_as_figure(fig))
    return (
        f'<figure><img alt="{html.escape(alt)}" src="{uri}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(frame: pd.DataFrame, *, digits: int = 3, caption: str = "", n_draws: int | None = None) -> str:
    """An HTML table; with ``n_draws``, columns ``P(...)`` are probabilities from that many draws.

    Probabilities are printed by :func:`carepaths.results.probability_text`, so a share
    of draws never reads as certainty (``> 0.999``, not ``1.000``).
    """
    import pandas as pd

    shown = frame.copy()
    for col in shown.columns:
        if n_draws is not None and str(col).startswith("P(") and pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: probability_text(v, n_draws, digits=digits))
        elif pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    body = shown.to_html(border=0, classes="table", escape=True)
    body = re.sub(r"<td>(\s*(?:&[lg]t; )?[-+]?(?:\d[\d,]*\.?\d*|nan|inf)\s*)</td>", r'<td class="num">\1</td>', body)
    cap = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
    return f"<div class='table-wrap'>{body}</div>{cap}"


def _missing_section(panel: Any) -> str:
    """The data section's record of missing values: per column and stage, and how handled."""
    shown, handled = panel.missing_columns()
    if not len(shown.columns):
        return _p("Missing values: none in the columns the spec uses.")
    rows = shown.attrs["rows"]
    shown = shown.copy()
    shown.insert(0, "rows", [rows[str(stage)] for stage in shown.index])
    table = _table(shown, digits=0, caption=(
        f"Missing values per column and stage, counted on every row given to the Panel. Handled: {handled}. "
        f"{len(panel.dropped):,} row(s) dropped in all."))
    if panel.missing_mode != "model":
        return table
    return table + _p(
        "The modelled values assume they are missing at random: whether a value is missing depends only on "
        "values that were observed. If it may depend on the missing value itself (people who left care "
        "stop answering about care), compare with a complete-case fit and see the sensitivity analysis "
        "(docs/data.md, Missing data).")


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table.table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
table.table th, table.table td { padding: .2em .6em; border-bottom: 1px solid #eee; text-align: left; }
table.table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.table th { background: #f6f6f6; }
.table-wrap { overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .caption { font-size: .85em; color: #555; }
.banner { background: #b00020; color: white; padding: .8em 1em; font-weight: bold; border-radius: 4px; }
.ok { background: #e7f5e9; padding: .6em 1em; border-radius: 4px; }
.paradox { font-size: 1.1em; background: #f3f6fb; padding: .6em 1em; border-left: 4px solid #1f4e9a; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


# ----------------------------------------------------------------------------- the report
def _sensitivity_section(
    sens: Sensitivity, parts: list[str], files: dict[str, Path], out: Path, *, staged: bool, n_draws: int,
) -> None:
    """The sensitivity section: the figure, where each effect reaches 0, E-values, TE's bias."""
    ilabel = interval_label()
    summary = sens.summary()
    crossings = sens.crossings()
    write_with(out / "sensitivity.csv", summary.to_csv)
    write_with(out / "sensitivity_crossings.csv", crossings.to_csv)
    files["sensitivity"], files["sensitivity_crossings"] = out / "sensitivity.csv", out / "sensitivity_crossings.csv"
    attrs = sens.draws.attrs
    by_stage = " by stage" if staged else ""
    parts.append(_p(
        f"How strong would an unmeasured confounder of the mediators and the outcome have to be to change "
        f"the conclusion? rho is the correlation it would create between the errors of the mediator "
        f"equation ({attrs['mediators']}) and the outcome equation; 0 is the assumption of no such "
        f"confounder that the effects above rest on (Imai, Keele & Yamamoto 2010). The effects of "
        f"{attrs['contrast']} are recomputed at each rho on every posterior draw, without refitting; the "
        "total effect does not change with rho, the split between the direct and the indirect paths does. "
        "For a binary or count outcome rho is on the latent scale (docs/sensitivity.md)."
    ))
    parts.append(_img(sens.plot(), f"effects against rho{by_stage}",
                      f"Each effect against rho{by_stage}: posterior mean (line) and {ilabel} (band); dotted: "
                      "where the mean reaches 0; diamond: the rho nearest 0 at which the interval includes 0."))
    shown = crossings.drop(columns=[c for c in ("warning",) if c in crossings.columns])
    parts.append(_table(shown, caption=(
        "rho_mean_zero: the rho at which the posterior mean reaches 0 (interpolated; empty: not on the grid "
        f"{sens.rho.min():g} to {sens.rho.max():g}); rho_interval_includes_zero: the rho nearest 0 at which the "
        f"{ilabel} includes 0; R2star_product and R2tilde_product: the products of the shares of the residual "
        "and of the total variances of the mediator and the outcome that the confounder would have to explain "
        "at rho_mean_zero.")))
    ev = sens.evalues.drop(columns=[c for c in ("warning",) if c in sens.evalues.columns])
    parts.append(_table(ev, caption=(
        "Mediational E-values (Smith & VanderWeele 2019): the strength of association, as a risk ratio with "
        "both the mediator and the outcome, that an unmeasured confounder would need to explain NDE or NIE "
        "away (for TE: with the exposure and the outcome); E-value (interval): to move the interval to 1.")))
    te = sens.total_effect_bias()
    te = te.drop(columns=[c for c in ("warning",) if c in te.columns])
    parts.append(_table(te, caption=(
        "Exposure-outcome confounding of the total effect (VanderWeele & Arah 2011): an unmeasured binary "
        "confounder that raises the outcome by gamma and is delta more common among the exposed biases TE by "
        "gamma x delta; bias_to_null and bias_to_interval_null are the gamma x delta that would move the mean, "
        "or the interval's nearer limit, to 0.")))


def build_report(
    *,
    fit: Fit,
    out: str | Path,
    effects: Effects,
    checks: Checks | None = None,
    comparison: Comparison | None = None,
    sensitivity: Sensitivity | None = None,
    trajectories: Any = None,
    truth: pd.DataFrame | None = None,
    title: str | None = None,
    data_note: str = "",
    seconds: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Write ``report.html`` and the tables as CSV into ``out``.

    Parameters
    ----------
    fit : Fit
        The fitted model.
    out : str or path-like
        Output folder: created when missing (its parent must exist); checked
        before any work, and every file in it is written atomically.
    effects : Effects
        ``fit.effects(by="stage")``.
    checks : Checks, optional
        ``fit.check(seed=...)``; without it the predictive-check section says how to add it.
    comparison : Comparison, optional
        ``fit.compare([...])``; without it the comparison section says how to add it.
    sensitivity : Sensitivity, optional
        ``fit.sensitivity(...)``; without it the sensitivity section says how to add it.
    trajectories : Trajectories, optional
        ``fit.trajectories([...])`` (a spec with ``[time]``); without it the trajectories
        section says how to add it.
    truth : pandas.DataFrame, optional
        Known true effects (``Simulation.effects_table()``) shown beside the estimates
        and in the forest plot.
    title : str, optional
        The report's title.
    data_note : str
        A sentence on where the data came from (e.g. the simulation settings).
    seconds : dict of str to float, optional
        Seconds of earlier steps (simulation, fit, ...) to list in the Files section.
    progress : callable, optional
        Called with a short line for each step.

    Returns
    -------
    Report
    """
    say = progress or (lambda _line: None)
    out = Path(out)
    out = check_output_dir(out, what="report folder")
    out.mkdir(exist_ok=True)
    spec, panel = fit.spec, fit.panel
    seconds = dict(seconds or {})
    files: dict[str, Path] = {}
    t_start = time.perf_counter()
    post = fit.posterior["posterior"]
    n_chains, n_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    x_name, y_name = spec.exposure.name, spec.outcome.name
    ilabel = interval_label()
    parts: list[str] = []

    # -- banner and data
    if not fit.converged:
        parts.append(f"<div class='banner' id='not-converged'>{html.escape(fit.convergence_message())}</div>")
    staged = len(spec.stage_levels) > 1
    n_waves = int(panel.frame[spec.columns.wave].nunique()) if spec.columns.wave else 1
    if n_waves > 1:
        size = f"{panel.n_obs:,} person-waves: {panel.n_persons:,} persons x up to {n_waves} waves"
    elif spec.columns.person is not None and panel.n_persons != panel.n_obs:
        size = f"{panel.n_obs:,} rows of {panel.n_persons:,} persons"
    else:
        size = f"{panel.n_persons:,} persons"
    if staged:
        size += f"; rows per stage {panel.stage_counts().astype(int).to_dict()}"
    parts.append("<h2>Data</h2>")
    parts.append(_p(
        f"{size}. Spec {spec.name or '(unnamed)'}: exposure {x_name}, "
        f"mediators {', '.join(spec.mediator_names)}, outcome {y_name}. "
        f"Fit: {n_chains} chains x {n_draws} draws. {data_note}"
    ))
    if staged:
        parts.append(_table(panel.summary(), caption="The panel by stage (original units)."))
    else:
        parts.append(_table(panel.summary().reset_index(drop=True), caption="The data (original units)."))
    parts.append(_missing_section(panel))

    # -- graph and identification
    say("Causal graph and identification (DoWhy) ...")
    t0 = time.perf_counter()
    graph = CausalGraph.from_spec(spec)
    ident = graph.identify().table()
    write_with(out / "identification.csv", lambda tmp: ident.to_csv(tmp, index=False))
    files["identification"] = out / "identification.csv"
    parts.append("<h2>Causal graph and identification</h2>")
    parts.append(_img(graph.plot(), "causal graph",
                      "The causal graph the spec implies; dashed circles are latent confounders."))
    n_ok = int(ident["identified"].sum())
    parts.append(_p(f"{n_ok} of {len(ident)} effects are identified by this graph."))
    parts.append(_table(ident.set_index("effect"), caption="Identification verdict per effect."))
    seconds["identification"] = time.perf_counter() - t0

    # -- convergence
    diag = fit.diagnostics()
    write_with(out / "diagnostics.csv", diag.to_csv)
    files["diagnostics"] = out / "diagnostics.csv"
    parts.append("<h2>Convergence</h2>")
    if fit.converged:
        parts.append("<div class='ok'>Every convergence check passed.</div>")
    else:
        parts.append(f"<div class='banner'>{html.escape(fit.convergence_message())}</div>")
    parts.append(_table(diag, digits=4, caption="Population-level parameters; person effects excluded."))

    # -- effects
    say("Effect decomposition figure and table ...")
    t0 = time.perf_counter()
    summary = effects.summary()
    table = summary.drop(columns=[c for c in ("warning",) if c in summary.columns])
    if truth is not None:
        if "stage" in truth.index.names and "stage" not in table.index.names:  # a spec without stages
            truth = truth.xs(truth.index.get_level_values("stage")[0], level="stage")
        table = table.join(truth[["true"]], how="left")
        table["covered"] = (table["lower"] <= table["true"]) & (table["true"] <= table["upper"])
    write_with(out / "effects.csv", table.to_csv)
    files["effects"] = out / "effects.csv"
    parts.append(f"<h2>{EFFECTS_SECTION if staged else 'Effect decomposition'}</h2>")
    words = "TE = NDE + NIE; IIE[m] is the interventional indirect effect through mechanism m"
    if "NDE (treated)" in effects.draws:
        words += ("; NDE is the pure direct effect (R mediation's ADE (control)) and NIE the total indirect "
                  "one (ACME (treated)), NDE (treated) and NIE (control) the other versions, so that also "
                  "TE = NDE (treated) + NIE (control); the version column names each")
    if "interdependence" in effects.draws:
        words += "; interdependence is what the mechanisms do jointly beyond their separate paths"
    parts.append(_p(
        f"Contrast: {summary.attrs['contrast']}; scale: {effects.scale.replace('_', ' ')}; "
        f"{summary.attrs['population']} population. {words}."
    ))
    parts.append(_p(f"Assumptions: {summary.attrs['assumptions']}"))
    by_stage = " by stage" if staged else ""
    parts.append(_img(
        effects.plot(truth=truth, outcome=y_name),
        f"effect decomposition{by_stage}",
        f"Posterior means and {ilabel}s{by_stage}" + ("; green crosses are the true effects." if truth is not None else "."),
    ))
    p_col = next(c for c in summary.columns if c.startswith("P("))
    caption = f"lower, upper: {ilabel}; {p_col}: posterior probability that the effect exceeds its null."
    if truth is not None:
        caption += " true: the simulation's true effect; covered: the interval contains it."
    parts.append(_table(table, digits=3, caption=caption, n_draws=effects.n_samples))
    seconds["effects figure"] = time.perf_counter() - t0

    # -- paradox (only when the spec defines it)
    sentences: list[str] = []
    if spec_paradox(spec) is not None:
        parts.append(f"<h2>{PARADOX_SECTION}</h2>")
        if len(effect_stages(effects)) >= 2:
            sentences = paradox_sentences(effects, exposure=x_name, outcome=y_name, spec=spec)
            ptable = paradox_table(effects, spec=spec)
            write_with(out / "paradox.csv", ptable.to_csv)
            files["paradox"] = out / "paradox.csv"
            parts.append(f"<p class='paradox'>{html.escape(sentences[0])}</p>")
            parts.extend(_p(s) for s in sentences[1:])
            parts.append(_table(ptable, caption=f"Total effect by stage; lower, upper: {ilabel}.",
                                n_draws=effects.n_samples))
        else:
            parts.append(_p("These effects are not by stage, so the paradox cannot be assessed: "
                            "pass effects=fit.effects(by='stage')."))

    # -- sensitivity
    parts.append(f"<h2>{SENSITIVITY_SECTION}</h2>")
    if sensitivity is None:
        parts.append(_p("Not computed. Run fit.sensitivity(mediator=...) and pass it to "
                        "build_report(sensitivity=...)."))
    else:
        say("Sensitivity figure and tables ...")
        t0 = time.perf_counter()
        _sensitivity_section(sensitivity, parts, files, out, staged=staged, n_draws=effects.n_samples)
        seconds["sensitivity figure"] = time.perf_counter() - t0

    # -- checks
    parts.append("<h2>Predictive checks</h2>")
    if checks is None:
        parts.append(_p("Not computed. Run fit.check(seed=...) and pass it to build_report(checks=...)."))
    else:
        say("Predictive check figures ...")
        t0 = time.perf_counter()
        ctable = checks.table()
        write_with(out / "checks.csv", ctable.to_csv)
        files["checks"] = out / "checks.csv"
        n_flag = int(ctable["flag"].sum())
        parts.append(_p(
            f"{len(ctable)} statistics of the data compared with their posterior predictive "
            f"distribution ({int(checks.draws.sizes['sample']):,} replicated data sets); {n_flag} "
            f"flagged (observed value outside the predictive {ilabel})."
        ))
        parts.append(_img(
            checks.plot_stages(), f"predictive checks{by_stage}",
            f"Each statistic's posterior predictive distribution (shaded: {ilabel}) and its observed "
            f"value (line; red when flagged){',' if staged else ''}{by_stage}.",
        ))
        parts.append(_img(
            checks.plot_ppc(num_samples=PPC_SAMPLES), "posterior predictive distributions",
            f"{PPC_SAMPLES} replicated data sets (thin) against the observed data (thick){',' if staged else ''}{by_stage}.",
        ))
        parts.append(_img(
            checks.plot_loo_pit(), "LOO-PIT",
            "LOO-PIT ECDF of the outcome minus the uniform CDF, with the p-value of ArviZ's "
            "uniformity test; a discrete outcome's PIT is randomised within its steps, so a "
            "calibrated model stays near 0.",
        ))
        flagged = checks.flagged
        if len(flagged):
            parts.append(_table(flagged, caption="Flagged statistics."))
        else:
            parts.append(_p("No statistic is flagged."))
        try:
            loo = checks.loo_summary()
            left_out = "one person (all their waves)" if loo.attrs["loo"] == "person" else "one row"
            parts.append(_table(loo.to_frame("value"),
                                caption=f"PSIS-LOO of the outcome, leaving out {left_out} at a time."))
        except CarepathsError:
            pass
        seconds["checks figures"] = time.perf_counter() - t0

    # -- interventions
    parts.append("<h2>Intervention comparison</h2>")
    if comparison is None:
        parts.append(_p("Not computed. Run fit.compare([...]) and pass it to build_report(comparison=...)."))
    else:
        say("Intervention comparison figure and table ...")
        t0 = time.perf_counter()
        csum = comparison.summary()
        write_with(out / "comparison.csv", csum.to_csv)
        files["comparison"] = out / "comparison.csv"
        per_1000 = f" and the difference {csum.attrs['per_1000']}" if "per_1000" in csum.attrs else ""
        best = " and that it is the best of those compared" if "P(best)" in csum.columns else ""
        parts.append(_p(
            "Each intervention against the status quo: the expected outcome, the difference"
            f"{per_1000} with the {ilabel}, the probability that it is better than the status "
            f"quo{best}."
        ))
        parts.append(_img(comparison.plot(), "intervention comparison",
                          f"Difference from the status quo{by_stage}; {ilabel}."))
        parts.append(_table(csum, caption=f"lower, upper: {ilabel}.", n_draws=comparison.n_samples))
        seconds["comparison figure"] = time.perf_counter() - t0

    # -- care trajectories over waves (a spec with [time])
    if spec.time is not None:
        parts.append(f"<h2>{TRAJECTORIES_SECTION}</h2>")
        if trajectories is None:
            parts.append(_p("Not computed. Run fit.trajectories([...]) and pass it to "
                            "build_report(trajectories=...)."))
        else:
            say("Care trajectories figure and table ...")
            t0 = time.perf_counter()
            tsum = trajectories.summary()
            write_with(out / "trajectories.csv", tsum.to_csv)
            files["trajectories"] = out / "trajectories.csv"
            parts.append(_p(
                "The g-formula on posterior draws: every person simulated forward through the waves under the "
                "natural course and each intervention (sustained from its wave, or dynamic: only in the waves a "
                "person is in its stages), with stages, time-varying confounders and exposure responding to "
                "earlier care. It assumes sequential exchangeability: given the measured past, nothing "
                "unmeasured drives both an intervened variable and what comes after it."
            ))
            parts.append(_img(trajectories.plot(), "care use by wave under each intervention",
                              f"Care use by wave; bands: {tsum.attrs['interval']}."))
            diff = tsum.loc["care_use_diff"].drop(columns=["warning"])
            parts.append(_table(diff, caption=f"Difference in care use from the natural course by wave; lower, "
                                              f"upper: {tsum.attrs['interval']}."))
            seconds["trajectories figure"] = time.perf_counter() - t0

    # -- files
    write_text(out / "spec.toml", spec.to_toml())
    files["spec"] = out / "spec.toml"
    path = out / "report.html"
    files["report"] = path
    seconds["report"] = time.perf_counter() - t_start
    listing = "".join(
        f"<li><code>{html.escape(p.name)}</code></li>" for k, p in sorted(files.items()) if k != "report"
    )
    timing = "".join(f"<li>{html.escape(k)}: {v:.1f} s</li>" for k, v in seconds.items())
    parts.append("<h2>Files</h2>")
    parts.append(f"<p>Written beside this report:</p><ul>{listing}</ul>")
    parts.append(f"<p>Seconds per step:</p><ul>{timing}</ul>")

    title = title or f"carepaths report: {spec.name or 'model'}"
    page = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>" + "\n".join(parts) + "</body></html>\n"
    )
    write_text(path, page)
    return Report(path=path, files=files, converged=fit.converged, seconds=seconds, paradox=sentences)
