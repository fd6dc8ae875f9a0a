"""The ``carepaths`` command line: a thin shell over the public API.

Commands
--------
``carepaths demo [--out DIR] [--persons N] [--waves T] [--seed S]``
    Simulate the default five-mechanism panel, validate it, print the spec's causal
    structure and the simulation's known true effects, and write them to ``DIR``.
``carepaths simulate SPEC OUT.csv [--persons N] [--waves T] [--seed S]``
    Write a synthetic panel for a spec (a path or a shipped name) to CSV, and its true
    effects beside it (``OUT.truth.csv``).
``carepaths validate SPEC DATA.csv [--dropna]``
    Validate a CSV against a spec and print the panel summary.

Exit codes: 0 success; 2 bad input (the SpecError / DataError message, no traceback).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from carepaths.exceptions import CarepathsError
from carepaths.spec import load_spec

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)


def _demo(args: argparse.Namespace) -> int:
    from carepaths.simulation import simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = load_spec("five_mechanisms")
    _say(args, spec.describe())
    _say(args, "")
    _say(
        args,
        f"Simulating the default panel: {args.persons} persons x {args.waves} waves "
        f"= {args.persons * args.waves} person-waves (seed {args.seed}) ...",
    )
    t0 = time.perf_counter()
    sim = simulate(spec, args.persons, args.waves, seed=args.seed)
    panel = sim.panel()
    _say(args, f"done in {time.perf_counter() - t0:.1f} s; validated: {panel!r}")
    summary = panel.summary()
    truth = sim.effects_table()
    _say(args, "\nPanel by stage (original units):\n" + summary.round(3).to_string())
    _say(
        args,
        "\nTRUE effects of the simulation (known by construction, not estimates; "
        f"{sim.effects.attrs['scale']}, contrast {sim.effects.attrs['contrast']}):\n"
        + truth.round(4).to_string(),
    )
    sim.data.to_csv(out / "panel.csv", index=False)
    truth.to_csv(out / "true_effects.csv")
    (out / "spec.toml").write_text(spec.to_toml(), encoding="utf-8")
    report = [
        "# carepaths demo: the default five-mechanism panel",
        "",
        "```",
        spec.describe(),
        "```",
        "",
        f"Simulated {args.persons} persons x {args.waves} waves (seed {args.seed}); the panel "
        "validated against the spec.",
        "",
        "## Panel by stage",
        "",
        "```",
        summary.round(3).to_string(),
        "```",
        "",
        "## True effects of the simulation",
        "",
        f"Known by construction (Monte Carlo over {sim.effects.attrs['mc_persons']} persons; "
        f"scale: {sim.effects.attrs['scale']}; contrast: {sim.effects.attrs['contrast']}). "
        "These are the targets a fitted model must recover; this version of carepaths does "
        "not fit models yet, so no estimates are reported.",
        "",
        "```",
        truth.round(4).to_string(),
        "```",
        "",
    ]
    (out / "report.md").write_text("\n".join(report), encoding="utf-8")
    _say(args, f"\nWrote {out}/report.md, panel.csv, true_effects.csv, spec.toml")
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from carepaths.simulation import simulate

    spec = load_spec(args.spec)
    waves = args.waves if spec.columns.person else 1
    sim = simulate(spec, args.persons, waves, seed=args.seed)
    out = Path(args.out)
    sim.data.to_csv(out, index=False)
    truth_path = out.with_suffix(".truth.csv")
    sim.effects_table().to_csv(truth_path)
    _say(args, f"Wrote {len(sim.data)} rows to {out} and the true effects to {truth_path}")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from carepaths.data import Panel
    from carepaths.exceptions import DataError

    spec = load_spec(args.spec)
    path = Path(args.data)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist. Check the path.")
    panel = Panel.from_frame(pd.read_csv(path), spec, dropna=args.dropna)
    _say(args, repr(panel))
    _say(args, panel.summary().round(3).to_string())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``carepaths`` command."""
    parser = argparse.ArgumentParser(
        prog="carepaths", description="Bayesian causal mediation analysis of mental-health care use."
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate and validate the default panel; write a report")
    demo.add_argument("--out", default="carepaths-demo", help="output folder")
    demo.add_argument("--persons", type=int, default=2000)
    demo.add_argument("--waves", type=int, default=4)
    demo.add_argument("--seed", type=int, default=2026)
    demo.set_defaults(run=_demo)

    sim = sub.add_parser("simulate", help="write a synthetic panel for a spec to CSV")
    sim.add_argument("spec", help="spec TOML path or shipped name")
    sim.add_argument("out", help="output CSV path")
    sim.add_argument("--persons", type=int, default=500)
    sim.add_argument("--waves", type=int, default=4)
    sim.add_argument("--seed", type=int, default=2026)
    sim.set_defaults(run=_simulate)

    val = sub.add_parser("validate", help="validate a CSV against a spec")
    val.add_argument("spec", help="spec TOML path or shipped name")
    val.add_argument("data", help="CSV, one row per person-wave")
    val.add_argument("--dropna", action="store_true", help="drop rows with missing values (reported)")
    val.set_defaults(run=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CarepathsError as err:
        print(f"carepaths: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
