"""The ``carepaths`` command line: a thin shell over the public API.

Commands
--------
``carepaths demo [--out DIR] [--persons N] [--waves T] [--draws D] [--tune T] [--chains C] [--seed S]``
    Simulate the default five-mechanism panel, fit it, and write ``report.html`` with
    every table as CSV and the fit as netCDF (:func:`carepaths.report.demo.run_demo`).
``carepaths simulate SPEC OUT.csv [--persons N] [--waves T] [--seed S]``
    Write a synthetic panel for a spec to CSV, and its true effects beside it.
``carepaths validate SPEC DATA.csv [--dropna | --missing refuse|drop|model]``
    Validate a CSV against a spec and print the panel summary.
``carepaths fit --spec SPEC --data DATA.csv --out FIT.nc [--draws --tune --chains --seed --dropna | --missing MODE]``
    Validate, fit and save; print the convergence checks.
``carepaths effects FIT.nc [--scale --population --seed --at NAME=V1,V2 --out CSV]``
    The effect decomposition by stage.
``carepaths fourway FIT.nc [--mediator M] [--mstar V] [--seed --out CSV]``
    VanderWeele's four-way decomposition of the total effect.
``carepaths sensitivity FIT.nc [--mediator M | --weights A=W,B=W] [--rho R1,R2,...] [--seed --out CSV --plot FILE]``
    The effects as functions of unmeasured mediator-outcome confounding (rho), where each
    reaches 0, the E-values and the total effect's bias analysis.
``carepaths compare FIT.nc (--examples | --intervention NAME:TARGET:KEY=VALUE[:...] ...) [--combine A+B] [--better --population --seed --out CSV]``
    Interventions against the status quo, by stage.
``carepaths check FIT.nc [--seed --draws --all --out CSV]``
    Posterior predictive checks by stage and LOO.
``carepaths graph [--spec SPEC] [--out FILE.dot|.png|.svg|.pdf]``
    The causal graph and the identification verdict of every effect.
``carepaths report FIT.nc [--out DIR] [--seed S] [--check-draws D] [--examples | --intervention ... [--combine A+B]]``
    The HTML report of a saved fit, with every table as CSV beside it.

``--quiet`` (before or after the command) silences progress and tables; warnings and
errors still go to standard error.

Exit codes: 0 success; 2 bad input (one line on standard error naming what to fix, no
traceback); 3 the fit did not converge (every result is still written, and the warning
printed); 1 is left for bugs. Every output path is checked before any work starts, and
every file is written atomically (:mod:`carepaths.files`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from carepaths.exceptions import CarepathsError, CarepathsWarning, ConvergenceWarning, DataError
from carepaths.files import check_input_file, check_output_dir, check_output_file, shorten, write_text, write_with
from carepaths.spec import load_spec

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3

#: Graph output formats of ``carepaths graph --out`` (by suffix).
GRAPH_FORMATS = (".dot", ".png", ".svg", ".pdf")


# ----------------------------------------------------------------------------- output helpers
def _say(args: argparse.Namespace, text: str) -> None:
    """Results (tables, paths) to standard output, unless --quiet."""
    if not args.quiet:
        print(text, flush=True)


def _step(args: argparse.Namespace, text: str) -> None:
    """Progress (step names, seconds) to standard error, unless --quiet."""
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _timed(args: argparse.Namespace, name: str) -> Iterator[None]:
    """``with _timed(args, "Fitting"):`` prints ``Fitting ...``, then ``done in 12.3 s``."""
    t0 = time.perf_counter()
    _step(args, f"{name} ...")
    yield
    _step(args, f"    done in {time.perf_counter() - t0:.1f} s")


def _read_csv(path_text: str) -> Any:
    """Read a data CSV, refusing what pandas would read wrongly or not at all."""
    import csv

    import pandas as pd

    try:
        path = check_input_file(path_text, what="data file")
    except CarepathsError as err:
        raise DataError(str(err)) from None
    shown = shorten(str(path))
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as err:
        raise DataError(
            f"data file {shown} is not UTF-8 text (byte {err.start}: {err.reason}). Save it as "
            "UTF-8 CSV (e.g. df.to_csv(path, encoding='utf-8'))."
        ) from None
    if not header:
        raise DataError(f"data file {shown} is empty: expected a header line and one row per person-wave.")
    seen: set[str] = set()
    for name in header:
        if name in seen:  # pandas would rename the second one silently ("x.1")
            raise DataError(
                f"data file {shown} has two columns named {shorten(name)}: rename one so each "
                "column has its own name."
            )
        seen.add(name)
    try:
        frame = pd.read_csv(path, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{shown} is not a readable CSV file: {' '.join(str(err).split())}") from None
    if frame.empty:
        raise DataError(f"data file {shown} has a header but no rows: expected one row per person-wave.")
    return frame


def _load_fit(path_text: str) -> Any:
    from carepaths.model.fit import load_fit

    return load_fit(path_text)


def _check_csv_out(out: str | None) -> None:
    if out:
        check_output_file(out, what="output CSV")


def _write_csv(args: argparse.Namespace, frame: Any, out: str | None) -> None:
    if out:
        write_with(out, frame.to_csv, what="output CSV")
        _say(args, f"Wrote {out}")


def _table_text(frame: Any, digits: int = 3) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
        return frame.round(digits).to_string()


def _converged_code(args: argparse.Namespace, converged: bool) -> int:
    if converged:
        return EXIT_OK
    _step(args, "The fit did NOT converge: the results were written, but treat them as unreliable (exit 3).")
    return EXIT_NOT_CONVERGED


# ----------------------------------------------------------------------------- commands
def _demo(args: argparse.Namespace) -> int:
    from carepaths.report.demo import run_demo

    check_output_dir(args.out, what="demo output folder")
    report = run_demo(
        args.out, persons=args.persons, waves=args.waves, draws=args.draws, tune=args.tune,
        chains=args.chains, seed=args.seed, progress=lambda line: _step(args, line),
        progressbar=not args.quiet,
    )
    for line in report.paradox[:2]:
        _say(args, line)
    _say(args, f"Report: {report.path} (open it in a browser); tables and fit.nc beside it.")
    _say(args, f"Total {report.seconds['total']:.0f} s")
    return _converged_code(args, report.converged)


def _simulate(args: argparse.Namespace) -> int:
    from carepaths.simulation import simulate

    spec = load_spec(args.spec)
    out = check_output_file(args.out, what="output CSV")
    truth_path = check_output_file(out.with_suffix(".truth.csv"), what="true-effects CSV")
    waves = args.waves if spec.columns.person else 1
    missing = None
    if args.attrition is not None:
        missing = {"mechanism": args.attrition,
                   "rate": 0.3 if args.attrition_rate is None else args.attrition_rate,
                   "strength": 1.0 if args.attrition_strength is None else args.attrition_strength,
                   "pattern": args.attrition_pattern or "waves"}
    elif args.attrition_rate is not None or args.attrition_strength is not None or args.attrition_pattern:
        raise CarepathsError("--attrition-rate, --attrition-strength and --attrition-pattern need --attrition "
                             "mcar|mar|mnar.")
    sim = simulate(spec, args.persons, waves, seed=args.seed, missing=missing)
    write_with(out, lambda tmp: sim.data.to_csv(tmp, index=False), what="output CSV")
    write_with(truth_path, sim.effects_table().to_csv, what="true-effects CSV")
    lost = ""
    if sim.complete_data is not None and missing["pattern"] == "items":
        lost = (f" ({int(sim.data.isna().to_numpy().sum())} single values missing, {args.attrition.upper()}; "
                "fit them with --missing model)")
    elif sim.complete_data is not None:
        lost = (f" ({len(sim.complete_data) - len(sim.data)} of {len(sim.complete_data)} person-waves lost to "
                f"{args.attrition.upper()} attrition)")
    _say(args, f"Wrote {len(sim.data)} rows to {out}{lost} and the true effects to {truth_path}")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from carepaths.data import Panel

    spec = load_spec(args.spec)
    panel = Panel.from_frame(_read_csv(args.data), spec, dropna=args.dropna, missing=args.missing)
    _say(args, repr(panel))
    _say(args, panel.summary().round(3).to_string())
    missing, handled = panel.missing_columns()
    if len(missing.columns):
        _say(args, f"Missing values per column and stage ({handled}):\n{missing.to_string()}")
    else:
        _say(args, "Missing values: none in the columns the spec uses.")
    if spec.time is not None:
        _say(args, f"Lags (spec [time]): {', '.join(spec.time.lags)}; first waves: "
                   f"{int((panel.previous_wave() < 0).sum())} of {panel.n_obs} rows.")
        if spec.columns.stage is not None:
            _say(args, f"Moves between stages from one wave to the next:\n{panel.transitions().to_string()}")
    return EXIT_OK


def _fit(args: argparse.Namespace) -> int:
    from carepaths.data import Panel
    from carepaths.model.build import MediationModel

    spec = load_spec(args.spec)
    check_output_file(args.out, what="fit file")  # before anything is compiled or sampled
    frame = _read_csv(args.data)
    with _timed(args, f"Validating {args.data} against spec {spec.name or args.spec}"):
        panel = Panel.from_frame(frame, spec, dropna=args.dropna, missing=args.missing)
    _step(args, f"    {panel!r}")
    with _timed(args, f"Fitting: compiling, then {args.chains} chains x {args.draws} draws after {args.tune} tuning steps"):
        fit = MediationModel(spec, panel).fit(
            draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
            progressbar=not args.quiet,
        )
    out = fit.save(args.out)
    _say(args, "Convergence checks:\n" + _table_text(fit.diagnostics(), 4))
    _say(args, f"Wrote {out}")
    return _converged_code(args, fit.converged)


def _parse_at(text: str | None) -> dict[str, list[Any]] | None:
    """``--at severity=5,15`` -> ``{"severity": [5.0, 15.0]}`` (levels stay text)."""
    if text is None:
        return None
    name, eq, values = text.partition("=")
    if not eq or not name.strip() or not values.strip():
        raise CarepathsError(f"--at {text!r}: write it as NAME=VALUE1,VALUE2 (e.g. --at severity=5,15).")
    parsed: list[Any] = []
    for value in (v.strip() for v in values.split(",")):
        try:
            parsed.append(float(value))
        except ValueError:
            parsed.append(value)  # a level of a categorical moderator
    return {name.strip(): parsed}


def _effects(args: argparse.Namespace) -> int:
    _check_csv_out(args.out)
    at = _parse_at(args.at)
    fit = _load_fit(args.fit)
    with _timed(args, "Effects by stage (g-computation on every posterior draw)"):
        effects = fit.effects(scale=args.scale, population=args.population, seed=args.seed, at=at)
    summary = effects.summary()
    _say(args, f"Effects of {summary.attrs['contrast']} ({effects.scale}, {summary.attrs['population']} "
               f"population); lower, upper: {summary.attrs['interval']}")
    _say(args, _table_text(summary.drop(columns=[c for c in ("warning", "version") if c in summary])))
    versions = dict(zip(summary.index.get_level_values("effect"), summary["version"], strict=True))
    _say(args, "Which effect is which: " + "; ".join(
        v for e, v in versions.items() if not e.startswith("IIE[") and e != "interdependence"))
    _say(args, "Assumptions: " + summary.attrs["assumptions"])
    draws = effects.draws
    if args.at and draws.attrs.get("moderator_kind") == "numeric" and draws.sizes["at"] > 1:
        _say(args, "Index of moderated mediation (per unit of the moderator):\n"
             + _table_text(effects.index_of_moderated_mediation()))
    _write_csv(args, summary, args.out)
    return _converged_code(args, fit.converged)


def _fourway(args: argparse.Namespace) -> int:
    _check_csv_out(args.out)
    fit = _load_fit(args.fit)
    mstar: Any = args.mstar
    if mstar is not None:
        try:
            mstar = float(mstar)
        except ValueError:
            pass  # a category label
    with _timed(args, "Four-way decomposition (g-computation on every posterior draw)"):
        fw = fit.fourway(mediator=args.mediator, mstar=mstar, seed=args.seed)
    table = fw.summary()
    _say(args, f"Four-way decomposition of {table.attrs['contrast']} through {table.attrs['mediator']} "
               f"(m* = {table.attrs['mstar']:g}); lower, upper: {table.attrs['interval']}")
    _say(args, _table_text(table.drop(columns=[c for c in ("warning",) if c in table])))
    _write_csv(args, table, args.out)
    return _converged_code(args, fit.converged)


def _parse_numbers(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CarepathsError(f"{option} {text!r}: give numbers separated by commas, e.g. {option} -0.5,0,0.5.") from None


def _parse_weights(text: str | None) -> dict[str, float] | None:
    """``--weights encouragement=1,discouragement=0.5`` -> a dict."""
    if text is None:
        return None
    out: dict[str, float] = {}
    for item in text.split(","):
        name, eq, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            eq = ""
        if not eq or not name.strip():
            raise CarepathsError(f"--weights {text!r}: write it as MEDIATOR=WEIGHT,... "
                                 "(e.g. --weights encouragement=1,discouragement=0.5).")
    return out


def _sensitivity(args: argparse.Namespace) -> int:
    _check_csv_out(args.out)
    if args.plot:
        plot = Path(args.plot)
        if plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise CarepathsError(f"--plot {shorten(str(plot))}: the figure is written as .png, .svg or .pdf "
                                 "(by the file's suffix).")
        check_output_file(plot, what="figure file")
    rho = _parse_numbers(args.rho, "--rho")
    weights = _parse_weights(args.weights)
    fit = _load_fit(args.fit)
    with _timed(args, "Sensitivity to mediator-outcome confounding (every posterior draw, every rho)"):
        sens = fit.sensitivity(rho=rho, mediator=args.mediator, weights=weights, seed=args.seed)
    crossings = sens.crossings()
    _say(args, f"Sensitivity of {sens.draws.attrs['contrast']} to an unmeasured mediator-outcome confounder "
               f"through {sens.draws.attrs['mediators']}; rho from {sens.rho.min():g} to {sens.rho.max():g} "
               f"({len(sens.rho)} points).")
    _say(args, "Where each effect reaches 0 (rho_mean_zero: its posterior mean, interpolated; "
               f"rho_interval_includes_zero: the grid rho nearest 0 whose {crossings.attrs['interval']} includes 0; "
               "the R-squared products at rho_mean_zero, Imai, Keele & Yamamoto 2010; NaN: not on this grid):\n" + _table_text(crossings))
    _say(args, "Mediational E-values (risk-ratio scale, rho = 0):\n" + _table_text(sens.evalues))
    te = sens.total_effect_bias()
    _say(args, "Total effect under an unmeasured binary exposure-outcome confounder (bias = gamma x delta, "
               "VanderWeele & Arah 2011): the bias that moves the mean, or the interval, to 0:\n"
               + _table_text(te.drop(columns=[c for c in ("warning",) if c in te])))
    _write_csv(args, sens.summary(), args.out)
    if args.plot:
        figure = sens.plot()
        fmt = plot.suffix.lower().lstrip(".")
        write_with(plot, lambda tmp: figure.savefig(tmp, format=fmt, bbox_inches="tight"), what="figure file")
        _say(args, f"Wrote {plot}")
    return _converged_code(args, fit.converged)


def parse_intervention(text: str) -> Any:
    """An :class:`~carepaths.counterfactual.interventions.Intervention` from ``NAME:TARGET:KEY=VALUE[:...]``.

    Keys: ``set``, ``shift``, ``scale`` (exactly one), ``units`` (``sd``, the default, or
    ``original``: what a shift counts in), ``stages`` (comma-separated) and ``from_wave``
    (trajectories: act from that wave on).
    Example: ``family:discouragement:shift=-0.5:stages=recovery,maintenance``;
    ``coaching:job_seek:shift=1:units=original`` (one point more on its own scale).

    Raises
    ------
    CarepathsError
        If the text does not have that form or a value is not a number.
    """
    from carepaths.counterfactual.interventions import Intervention

    usage = (
        "write an intervention as NAME:TARGET:KEY=VALUE[:units=sd|original][:stages=S1,S2][:from_wave=W], with KEY "
        "one of set, shift, scale; e.g. family:discouragement:shift=-0.5:stages=recovery,maintenance"
    )
    parts = text.split(":")
    if len(parts) < 3 or not parts[0] or not parts[1]:
        raise CarepathsError(f"cannot read intervention {text!r}: {usage}.")
    name, target, options = parts[0], parts[1], parts[2:]
    kwargs: dict[str, Any] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or key not in ("set", "shift", "scale", "units", "stages", "from_wave") or key in kwargs:
            raise CarepathsError(f"cannot read {option!r} in intervention {text!r}: {usage}.")
        if key == "stages":
            kwargs[key] = tuple(s.strip() for s in value.split(",") if s.strip())
        elif key == "units":
            kwargs[key] = value.strip()
        elif key == "from_wave":
            try:
                kwargs[key] = int(value)
            except ValueError:
                raise CarepathsError(f"intervention {text!r}: from_wave must be a wave number, got {value!r}.") from None
        elif key in ("shift", "scale"):
            try:
                kwargs[key] = float(value)
            except ValueError:
                raise CarepathsError(f"intervention {text!r}: {key} must be a number, got {value!r}.") from None
        else:
            try:
                kwargs[key] = float(value)
            except ValueError:
                kwargs[key] = value  # a category label of an ordinal mediator
    return Intervention(name, target, **kwargs)


def _interventions_from_args(args: argparse.Namespace, spec: Any) -> list[Any]:
    from carepaths.counterfactual.interventions import worked_examples

    if args.examples and (args.intervention or args.combine):
        raise CarepathsError("give either --examples or --intervention/--combine, not both.")
    if args.examples:
        return worked_examples(spec)
    if not args.intervention:
        raise CarepathsError(
            "nothing to compare: give --examples (the worked examples) or one or more "
            "--intervention NAME:TARGET:KEY=VALUE."
        )
    singles = [parse_intervention(text) for text in args.intervention]
    by_name = {iv.name: iv for iv in singles}
    entries: list[Any] = list(singles)
    for combo in args.combine or []:
        names = [n.strip() for n in combo.split("+")]
        unknown = [n for n in names if n not in by_name]
        if len(names) < 2 or unknown:
            raise CarepathsError(
                f"--combine {combo!r}: name two or more interventions given with --intervention, "
                f"joined by '+' (unknown: {unknown or 'none'}; defined: {sorted(by_name)})."
            )
        entries.append([by_name[n] for n in names])
    return entries


def _compare(args: argparse.Namespace) -> int:
    _check_csv_out(args.out)
    fit = _load_fit(args.fit)
    entries = _interventions_from_args(args, fit.spec)
    with _timed(args, f"Comparing {len(entries)} interventions with the status quo on every posterior draw"):
        comparison = fit.compare(entries, population=args.population, seed=args.seed, better=args.better)
    summary = comparison.summary()
    for name, text in comparison.descriptions.items():
        _say(args, f"  {name}: {text}")
    _say(args, f"lower, upper: {summary.attrs['interval']}; better = {comparison.better} {summary.attrs['outcome']}")
    _say(args, _table_text(summary.drop(columns=[c for c in ("warning",) if c in summary])))
    _write_csv(args, summary, args.out)
    return _converged_code(args, fit.converged)


def _trajectories(args: argparse.Namespace) -> int:
    _check_csv_out(args.out)
    fit = _load_fit(args.fit)
    if not args.intervention:
        raise CarepathsError(
            "nothing to follow over waves: give one or more --intervention NAME:TARGET:KEY=VALUE[:from_wave=W]"
            "[:stages=S1,S2]."
        )
    entries = [parse_intervention(text) for text in args.intervention]
    with _timed(args, f"Following {len(entries)} intervention(s) over the waves on {args.draws} posterior draws "
                      "(the models over waves are fitted first)"):
        result = fit.trajectories(entries, waves=args.waves, decompose=args.decompose, draws=args.draws,
                                  seed=args.seed)
    summary = result.summary()
    _say(args, f"{result!r}\nlower, upper: {summary.attrs['interval']}; care_use: share in care; *_diff: difference "
               "from the natural course")
    _say(args, _table_text(summary.drop(columns=["warning"])))
    _write_csv(args, summary, args.out)
    return _converged_code(args, result.converged)


def _study(args: argparse.Namespace) -> int:
    from carepaths.studies import load_study, make_plan, run_study

    spec = load_spec(args.spec)
    persons = args.persons or [200]
    if args.kind != "power" and len(persons) > 1:
        raise CarepathsError(f"a {args.kind} study has one design: give --persons once (several make a power curve).")
    if args.kind != "power" and (args.claim is not None or args.threshold is not None):
        raise CarepathsError(f"--claim and --threshold are a power study's; a {args.kind} study takes neither.")
    replicates = args.replicates or (200 if args.kind == "sbc" else 100)
    plan = make_plan(args.kind, spec, persons=persons, waves=args.waves, replicates=replicates, seed=args.seed,
                     claim=(args.claim or "paradox") if args.kind == "power" else None,
                     threshold=0.95 if args.threshold is None else args.threshold, level=args.level,
                     draws=args.draws, tune=args.tune, chains=args.chains)
    folder = run_study(plan, args.out, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
    result = load_study(folder)
    table = {"power": result.power, "coverage": result.coverage, "sbc": result.ranks}[args.kind]()
    name = folder / f"{args.kind}.csv"
    write_with(name, table.to_csv, what="study table")
    _say(args, f"{result!r}")
    _say(args, _table_text(table))
    _say(args, f"Wrote {name} and one record per replicate in {folder / 'replicates'}")
    if result.not_converged:
        _step(args, f"{result.not_converged} replicate fit(s) did NOT converge: they are counted in the table (exit 3).")
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    _check_csv_out(args.out)
    fit = _load_fit(args.fit)
    with _timed(args, "Posterior predictive checks by stage and PSIS-LOO"):
        checks = fit.check(seed=args.seed, draws=args.draws)
    table = checks.table()
    flagged = checks.flagged
    _say(args, f"{len(table)} statistics checked; {len(flagged)} flagged "
               f"(observed value outside the predictive {table.attrs.get('interval', 'interval')}).")
    shown = table if args.all else flagged
    if len(shown):
        _say(args, _table_text(shown))
    _say(args, "PSIS-LOO of the outcome:\n" + checks.loo_summary().round(3).to_string())
    _write_csv(args, table, args.out)
    return _converged_code(args, fit.converged)


def _graph(args: argparse.Namespace) -> int:
    from carepaths.causal.graph import CausalGraph

    spec = load_spec(args.spec)
    graph = CausalGraph.from_spec(spec)
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() not in GRAPH_FORMATS:
            raise CarepathsError(
                f"--out {shorten(str(out))}: the graph is written as {', '.join(GRAPH_FORMATS)} (by the "
                "file's suffix)."
            )
        check_output_file(out, what="graph file")
    with _timed(args, "Identifying the effects (DoWhy)"):
        ident = graph.identify()
    _say(args, repr(graph))
    _say(args, str(ident))
    if args.out:
        if out.suffix.lower() == ".dot":
            write_text(out, graph.to_dot(), what="graph file")
        else:
            figure = graph.plot()
            fmt = out.suffix.lower().lstrip(".")
            write_with(out, lambda tmp: figure.savefig(tmp, format=fmt, bbox_inches="tight"), what="graph file")
        _say(args, f"Wrote {out}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from carepaths.report.html import build_report

    out = check_output_dir(args.out or f"{Path(args.fit).stem}-report", what="report folder")
    fit = _load_fit(args.fit)
    entries = None
    if args.examples or args.intervention or args.combine:
        entries = _interventions_from_args(args, fit.spec)
    seconds: dict[str, float] = {}
    with _timed(args, "Effects by stage (g-computation on every posterior draw)"):
        t0 = time.perf_counter()
        effects = fit.effects(seed=args.seed)
        seconds["effects"] = time.perf_counter() - t0
    with _timed(args, "Posterior predictive checks by stage and PSIS-LOO"):
        t0 = time.perf_counter()
        checks = fit.check(seed=args.seed, draws=args.check_draws)
        seconds["checks"] = time.perf_counter() - t0
    comparison = None
    if entries is not None:
        with _timed(args, f"Comparing {len(entries)} interventions with the status quo"):
            t0 = time.perf_counter()
            comparison = fit.compare(entries, seed=args.seed)
            seconds["compare"] = time.perf_counter() - t0
    with _timed(args, "Sensitivity to unmeasured mediator-outcome confounding (every draw, every rho)"):
        t0 = time.perf_counter()
        sensitivity = fit.sensitivity(mediator="all", seed=args.seed)
        seconds["sensitivity"] = time.perf_counter() - t0
    trajectories = None
    if entries is not None and fit.spec.time is not None:
        with _timed(args, f"Following {len(entries)} interventions over the waves (g-formula)"):
            t0 = time.perf_counter()
            trajectories = fit.trajectories(entries, seed=args.seed)
            seconds["trajectories"] = time.perf_counter() - t0
    with _timed(args, "Writing the report"):
        report = build_report(
            fit=fit, out=out, effects=effects, checks=checks, comparison=comparison, sensitivity=sensitivity,
            trajectories=trajectories, data_note=f"Fit read from {args.fit}.", seconds=seconds,
        )
    _say(args, f"Report: {report.path} (open it in a browser); tables beside it.")
    return _converged_code(args, fit.converged)


# ----------------------------------------------------------------------------- the parser
def _count(minimum: int) -> Any:
    """An argparse type: an integer of at least ``minimum`` (else a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (exit 2), like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"carepaths: error: {' '.join(message.split())} (see '{self.prog} --help').\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``carepaths`` command."""
    quiet_help = "print nothing but warnings and errors"
    parser = _Parser(
        prog="carepaths", description="Bayesian causal mediation analysis of mental-health care use."
    )
    parser.add_argument("--quiet", action="store_true", help=quiet_help)
    # --quiet after the command too; SUPPRESS keeps a --quiet given before it
    common = _Parser(add_help=False)
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=quiet_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    def sampler_options(p: argparse.ArgumentParser, draws: int, tune: int) -> None:
        p.add_argument("--draws", type=_count(1), default=draws, help="posterior draws per chain")
        p.add_argument("--tune", type=_count(0), default=tune, help="tuning steps per chain")
        p.add_argument("--chains", type=_count(1), default=2, help="chains (run in parallel on 2 cores)")

    from carepaths.report.demo import DEMO_DEFAULTS as D

    demo = command("demo", "simulate the default panel, fit it and write an HTML report")
    demo.add_argument("--out", default="carepaths-demo", help="output folder")
    demo.add_argument("--persons", type=_count(1), default=D["persons"], help="persons simulated")
    demo.add_argument("--waves", type=_count(1), default=D["waves"], help="waves per person")
    sampler_options(demo, D["draws"], D["tune"])
    demo.add_argument("--seed", type=int, default=D["seed"], help="seed of everything random")
    demo.set_defaults(run=_demo)

    sim = command("simulate", "write a synthetic panel for a spec to CSV")
    sim.add_argument("spec", help="spec TOML path or shipped name")
    sim.add_argument("out", help="output CSV path")
    sim.add_argument("--persons", type=int, default=500)
    sim.add_argument("--waves", type=int, default=4)
    sim.add_argument("--seed", type=int, default=2026)
    sim.add_argument("--attrition", choices=["mcar", "mar", "mnar"], default=None,
                     help="drop out persons' later waves: MCAR, MAR (on the previous wave) or MNAR")
    sim.add_argument("--attrition-rate", type=float, default=None, help="share of person-waves lost (default 0.3)")
    sim.add_argument("--attrition-pattern", choices=["waves", "items"], default=None,
                     help="waves: persons drop out (default); items: single values missing within rows")
    sim.add_argument("--attrition-strength", type=float, default=None,
                     help="log-odds of dropping out per SD, MAR/MNAR (default 1)")
    sim.set_defaults(run=_simulate)

    val = command("validate", "validate a CSV against a spec")
    val.add_argument("spec", help="spec TOML path or shipped name")
    val.add_argument("data", help="CSV, one row per person-wave")
    val.add_argument("--dropna", action="store_true", help="drop rows with missing values (reported)")
    val.add_argument("--missing", choices=["refuse", "drop", "model"], default=None,
                     help="missing values: refuse (default), drop their rows, or model them (docs/data.md)")
    val.set_defaults(run=_validate)

    fit = command("fit", "validate data, fit the model and save the fit (netCDF)")
    fit.add_argument("--spec", required=True, help="spec TOML path or shipped name")
    fit.add_argument("--data", required=True, help="CSV, one row per person-wave")
    fit.add_argument("--out", required=True, help="where to write the fit (.nc)")
    sampler_options(fit, 1000, 1000)
    fit.add_argument("--seed", type=int, default=1, help="sampler seed")
    fit.add_argument("--dropna", action="store_true", help="drop rows with missing values (reported)")
    fit.add_argument("--missing", choices=["refuse", "drop", "model"], default=None,
                     help="missing values: refuse (default), drop their rows, or model them "
                          "(missing at random; docs/data.md)")
    fit.set_defaults(run=_fit)

    eff = command("effects", "effect decomposition by stage from a saved fit")
    eff.add_argument("fit", help="a fit written by `carepaths fit` (.nc)")
    eff.add_argument("--scale", default="difference", choices=("difference", "risk_ratio", "odds_ratio"))
    eff.add_argument("--population", default="marginal", choices=("marginal", "conditional"))
    eff.add_argument("--seed", type=int, default=0, help="Monte Carlo seed")
    eff.add_argument("--at", metavar="NAME=V1,V2", help="effects at values of a moderator (a confounder)")
    eff.add_argument("--out", help="write the table to this CSV")
    eff.set_defaults(run=_effects)

    fw = command("fourway", "the four-way decomposition (CDE, INT_ref, INT_med, PIE) from a saved fit")
    fw.add_argument("fit", help="a fit written by `carepaths fit` (.nc)")
    fw.add_argument("--mediator", help="the mediator (needed when the spec has several)")
    fw.add_argument("--mstar", help="the mediator's value in the controlled direct effect (its units)")
    fw.add_argument("--seed", type=int, default=0, help="Monte Carlo seed")
    fw.add_argument("--out", help="write the table to this CSV")
    fw.set_defaults(run=_fourway)

    sens = command("sensitivity", "effects as functions of unmeasured mediator-outcome confounding (rho)")
    sens.add_argument("fit", help="a fit written by `carepaths fit` (.nc)")
    sens.add_argument("--mediator", help="the mediator whose error correlates with the outcome's, or 'all' "
                                         "(needed when the spec has several, unless --weights is given)")
    sens.add_argument("--weights", metavar="M1=W1,M2=W2", help="rho_k = W_k x rho for the mediators listed")
    sens.add_argument("--rho", metavar="R1,R2,...", help="the grid of rho in (-1, 1) (default -0.9 to 0.9, 21 points)")
    sens.add_argument("--seed", type=int, default=0, help="Monte Carlo seed")
    sens.add_argument("--out", help="write the table of every effect at every rho to this CSV")
    sens.add_argument("--plot", help="draw the effects against rho to this .png, .svg or .pdf")
    sens.set_defaults(run=_sensitivity)

    cmp_ = command("compare", "compare interventions with the status quo, by stage")
    cmp_.add_argument("fit", help="a fit written by `carepaths fit` (.nc)")
    cmp_.add_argument("--examples", action="store_true", help="the worked examples (five_mechanisms)")
    cmp_.add_argument(
        "--intervention", action="append", metavar="NAME:TARGET:KEY=VALUE[:stages=S1,S2]",
        help="an intervention; KEY is set, shift (SDs, or the variable's own units with :units=original) "
             "or scale; repeat for more",
    )
    cmp_.add_argument("--combine", action="append", metavar="NAME1+NAME2",
                      help="apply named interventions together; repeatable")
    cmp_.add_argument("--better", default="higher", choices=("higher", "lower"),
                      help="which direction of the outcome is better")
    cmp_.add_argument("--population", default="marginal", choices=("marginal", "conditional"))
    cmp_.add_argument("--seed", type=int, default=0, help="Monte Carlo seed")
    cmp_.add_argument("--out", help="write the table to this CSV")
    cmp_.set_defaults(run=_compare)

    trj = command("trajectories", "care use over waves under sustained or dynamic interventions (g-formula)")
    trj.add_argument("fit", help="a fit written by `carepaths fit` (.nc) of a spec with a [time] table")
    trj.add_argument(
        "--intervention", action="append", metavar="NAME:TARGET:KEY=VALUE[:from_wave=W][:stages=S1,S2]",
        help="an intervention on the exposure or a mediator, from wave W on, in the waves a person is in the "
             "stages; repeat for more",
    )
    trj.add_argument("--waves", type=_count(1), help="waves to follow each person through (default: the panel's)")
    trj.add_argument("--decompose", action="store_true",
                     help="also split each intervention's effect by mechanism (interventions on the exposure)")
    trj.add_argument("--draws", type=_count(2), default=200, help="posterior draws used")
    trj.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (and the models over waves')")
    trj.add_argument("--out", help="write the table to this CSV")
    trj.set_defaults(run=_trajectories)

    sty = command("study", "an SBC, coverage or power study: many simulated panels fitted on Dask")
    sty.add_argument("kind", choices=["sbc", "coverage", "power"],
                     help="simulation-based calibration, coverage of the intervals, or power for a claim")
    sty.add_argument("spec", help="spec TOML path or shipped name")
    sty.add_argument("--out", required=True, help="the study's folder (one file per replicate; run again to resume)")
    sty.add_argument("--persons", type=_count(2), nargs="+", help="persons per replicate; several: a power curve")
    sty.add_argument("--waves", type=_count(1), default=4, help="waves per person")
    sty.add_argument("--replicates", type=_count(1), help="replicates per design (default: 200 for sbc, else 100)")
    sty.add_argument("--seed", type=int, default=0, help="the study's seed (each replicate's is derived from it)")
    sty.add_argument("--claim", help="power: 'paradox' (default) or e.g. 'NIE < 0 in recovery'")
    sty.add_argument("--threshold", type=float, help="power: posterior probability that supports the claim (0.95)")
    sty.add_argument("--level", type=float, default=0.9, help="coverage: the intervals' probability")
    sampler_options(sty, 1000, 1000)
    sty.add_argument("--scheduler", help="a running Dask scheduler's address (tcp://host:8786); default: local")
    sty.add_argument("--workers", type=_count(1), help="local worker processes (default: one per CPU)")
    sty.set_defaults(run=_study)

    chk = command("check", "posterior predictive checks by stage, and LOO")
    chk.add_argument("fit", help="a fit written by `carepaths fit` (.nc)")
    chk.add_argument("--seed", type=int, default=0, help="seed of the replicated data")
    chk.add_argument("--draws", type=_count(1), default=None, help="posterior draws per chain to use (thinned)")
    chk.add_argument("--all", action="store_true", help="print every statistic, not only the flagged")
    chk.add_argument("--out", help="write the full table to this CSV")
    chk.set_defaults(run=_check)

    gr = command("graph", "the causal graph of a spec and what it identifies")
    gr.add_argument("--spec", default="five_mechanisms", help="spec TOML path or shipped name")
    gr.add_argument("--out", help="write the graph: .dot (Graphviz text), .png, .svg or .pdf")
    gr.set_defaults(run=_graph)

    rep = command("report", "the HTML report of a saved fit, with every table as CSV")
    rep.add_argument("fit", help="a fit written by `carepaths fit` (.nc)")
    rep.add_argument("--out", help="output folder (default: <fit name>-report beside the current folder)")
    rep.add_argument("--seed", type=int, default=0, help="Monte Carlo seed of effects, checks and comparison")
    rep.add_argument("--check-draws", type=_count(2), default=None,
                     help="posterior draws per chain for the predictive checks (thinned; default all)")
    rep.add_argument("--examples", action="store_true", help="compare the worked examples (five_mechanisms)")
    rep.add_argument("--intervention", action="append", metavar="NAME:TARGET:KEY=VALUE[:stages=S1,S2]",
                     help="an intervention to compare; repeat for more")
    rep.add_argument("--combine", action="append", metavar="NAME1+NAME2",
                     help="apply named interventions together; repeatable")
    rep.set_defaults(run=_report)
    return parser


def _report_warnings(args: argparse.Namespace, recorded: list[warnings.WarningMessage]) -> None:
    """Each distinct warning once: carepaths' own always, others unless --quiet.

    The fit, its effects, checks and comparison each warn that the fit did not converge;
    that is one fact, printed once (the first, the fit's own wording).
    """
    seen: set[str] = set()
    for w in recorded:
        text = str(w.message)
        key = "convergence" if issubclass(w.category, ConvergenceWarning) else text
        if key in seen:
            continue
        seen.add(key)
        if issubclass(w.category, CarepathsWarning):
            print(f"carepaths: warning: {text}", file=sys.stderr)
        elif not args.quiet:
            print(f"warning ({w.category.__name__}): {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        try:
            code = int(args.run(args))
        except CarepathsError as err:
            _report_warnings(args, recorded)
            print(f"carepaths: error: {' '.join(str(err).split())}", file=sys.stderr)  # one line
            return EXIT_BAD_INPUT
    _report_warnings(args, recorded)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
