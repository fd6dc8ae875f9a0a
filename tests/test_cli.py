"""The command line: each command works, and bad input exits 2 with a short message.

One small fit is made once for the module, through ``carepaths fit`` itself (60 persons
x 3 waves, 2 chains x 40 draws: far too few to converge, which is what exercises exit
code 3); ``effects``, ``compare`` and ``check`` then run on the saved file. Where a test
needs the converged path (exit 0), ``Fit.converged`` is patched to True.
"""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest

from carepaths.cli import (
    EXIT_BAD_INPUT,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    build_parser,
    main,
    parse_intervention,
)
from carepaths.exceptions import CarepathsError


def run(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "panel.csv"
    code, _, _ = run(["--quiet", "simulate", "five_mechanisms", str(path), "--persons", "60", "--waves", "3", "--seed", "3"])
    assert code == EXIT_OK
    return path


@pytest.fixture(scope="module")
def fitted(data_csv):
    """(exit code, stdout, stderr, path) of one tiny `carepaths fit`."""
    path = data_csv.parent / "fit.nc"
    code, out, err = run([
        "fit", "--spec", "five_mechanisms", "--data", str(data_csv), "--out", str(path),
        "--draws", "40", "--tune", "40", "--chains", "2", "--seed", "2",
    ])
    return code, out, err, path


@pytest.fixture()
def converged(monkeypatch):
    """Pretend every fit converged (the converged exit path without a long fit)."""
    from carepaths.model.fit import Fit

    monkeypatch.setattr(Fit, "converged", property(lambda self: True))


# ----------------------------------------------------------------------------- simulate / validate
def test_simulate_then_validate_round_trip(tmp_path):
    csv = tmp_path / "visits.csv"
    assert run(["--quiet", "simulate", "visits", str(csv), "--persons", "40", "--waves", "2"])[0] == 0
    assert len(pd.read_csv(csv)) == 80
    assert (tmp_path / "visits.truth.csv").exists()
    code, out, _ = run(["validate", "visits", str(csv)])
    assert code == 0 and "<Panel 80 rows, 40 persons" in out
    assert "Missing values: none in the columns the spec uses." in out


def test_simulate_with_attrition_writes_only_the_observed_rows(tmp_path):
    csv = tmp_path / "d.csv"
    code, out, _ = run(["simulate", "five_mechanisms", str(csv), "--persons", "100", "--waves", "4",
                        "--attrition", "mar", "--attrition-rate", "0.25"])
    assert code == 0
    frame = pd.read_csv(csv)
    lost = 400 - len(frame)
    assert abs(lost / 400 - 0.25) <= 3 / 400  # to one dropout (up to 3 rows)
    assert f"({lost} of 400 person-waves lost to MAR attrition)" in out
    assert (frame.groupby("person")["wave"].max() == frame.groupby("person").size()).all()  # monotone
    code, _, err = run(["simulate", "five_mechanisms", str(tmp_path / "e.csv"), "--attrition-rate", "0.2"])
    assert code == EXIT_BAD_INPUT and "need --attrition mcar|mar|mnar" in err and "Traceback" not in err
    code, _, err = run(["simulate", "five_mechanisms", str(tmp_path / "f.csv"), "--attrition", "mar",
                        "--attrition-rate", "0.95"])
    assert code == EXIT_BAD_INPUT and "missing['rate'] must be the share" in err


def test_validate_reports_missing_values_and_refuses_a_missing_stage(tmp_path):
    csv = tmp_path / "d.csv"
    assert run(["--quiet", "simulate", "five_mechanisms", str(csv), "--persons", "30", "--waves", "3"])[0] == 0
    frame = pd.read_csv(csv)
    frame.loc[[2, 5], "severity"] = None
    frame.to_csv(csv, index=False)
    code, out, err = run(["validate", "five_mechanisms", str(csv), "--dropna"])
    assert code == 0, err
    assert "Missing values per column and stage (severity: row dropped (missing='drop')):" in out
    assert out.split("Missing values per column and stage")[1].splitlines()[-1].split() == ["all", "2"]
    frame.loc[7, "stage"] = None
    frame.to_csv(csv, index=False)
    code, _, err = run(["validate", "five_mechanisms", str(csv), "--dropna"])
    assert code == EXIT_BAD_INPUT and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "column 'stage' (the stage) is missing in 1 row(s) (rows 7)" in err


def test_validate_with_missing_model_keeps_the_rows_and_says_how(tmp_path):
    csv = tmp_path / "d.csv"
    assert run(["--quiet", "simulate", "five_mechanisms", str(csv), "--persons", "30", "--waves", "3"])[0] == 0
    frame = pd.read_csv(csv)
    frame.loc[[2, 5, 9], "care_use"] = None
    frame.to_csv(csv, index=False)
    code, out, err = run(["validate", "five_mechanisms", str(csv), "--missing", "model"])
    assert code == 0, err
    assert "<Panel 90 rows" in out
    assert "care_use: modelled: the row's outcome contributes nothing to the likelihood" in out
    code, _, err = run(["validate", "five_mechanisms", str(csv), "--missing", "model", "--dropna"])
    assert code == EXIT_BAD_INPUT and "disagree" in err and len(err.strip().splitlines()) == 1


def test_simulate_items_then_fit_with_missing_model(tmp_path):
    csv = tmp_path / "d.csv"
    code, out, err = run(["simulate", "five_mechanisms", str(csv), "--persons", "40", "--waves", "3",
                          "--attrition", "mar", "--attrition-pattern", "items"])
    assert code == 0, err
    assert "single values missing, MAR; fit them with --missing model" in out
    frame = pd.read_csv(csv)
    assert len(frame) == 120 and abs(frame["care_use"].isna().sum() - 36) <= 1  # 30%, to one row (bisection)
    code, _, err = run(["simulate", "five_mechanisms", str(csv), "--attrition-pattern", "items"])
    assert code == EXIT_BAD_INPUT and "need --attrition" in err


def test_bad_spec_key_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[exposure]\nname = "x"\nknd = "binary"\n')
    code, _, err = run(["validate", str(bad), "whatever.csv"])
    assert code == EXIT_BAD_INPUT
    assert "exposure.knd" in err and "Traceback" not in err


def test_missing_data_file_exits_2():
    code, _, err = run(["validate", "five_mechanisms", "no/such/file.csv"])
    assert code == EXIT_BAD_INPUT and "does not exist" in err


def test_bad_column_exits_2(tmp_path):
    csv = tmp_path / "d.csv"
    assert run(["--quiet", "simulate", "five_mechanisms", str(csv), "--persons", "30"])[0] == 0
    pd.read_csv(csv).drop(columns=["confidence"]).to_csv(csv, index=False)
    code, _, err = run(["validate", "five_mechanisms", str(csv)])
    assert code == EXIT_BAD_INPUT and "missing column(s) ['confidence']" in err


def test_unknown_command_is_an_argparse_error():
    with pytest.raises(SystemExit) as exc:
        main(["fly"])
    assert exc.value.code == 2


def test_every_command_exists():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"demo", "simulate", "validate", "fit", "effects", "compare", "check", "graph"} <= set(commands)


# ----------------------------------------------------------------------------- fit
def test_fit_writes_the_fit_and_exits_3_when_it_did_not_converge(fitted):
    code, out, err, path = fitted
    assert code == EXIT_NOT_CONVERGED
    assert path.is_file() and path.stat().st_size > 0
    assert "Convergence checks" in out and "max R-hat" in out
    assert "carepaths: warning: THE FIT DID NOT CONVERGE" in err
    assert "Fitting: compiling, then 2 chains x 40 draws" in err  # the step names
    assert "Traceback" not in err
    from carepaths.model.fit import load_fit

    fit = load_fit(path)
    assert fit.posterior["posterior"].sizes["draw"] == 40 and not fit.converged


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing_file", "does not exist"),
        ("bad_column", "missing column(s) ['attitudes']"),
        ("bad_spec_key", "columns.persn"),
        ("not_csv", "is not UTF-8 text"),
    ],
)
def test_fit_bad_input_exits_2_before_sampling(tmp_path, data_csv, change, message):
    spec, data = "five_mechanisms", str(data_csv)
    if change == "missing_file":
        data = str(tmp_path / "absent.csv")
    elif change == "bad_column":
        data = str(tmp_path / "d.csv")
        pd.read_csv(data_csv).drop(columns=["attitudes"]).to_csv(data, index=False)
    elif change == "bad_spec_key":
        from carepaths.spec import load_spec

        text = load_spec("five_mechanisms").to_toml().replace('person = "person"', 'persn = "person"')
        spec = str(tmp_path / "bad.toml")
        (tmp_path / "bad.toml").write_text(text)
    elif change == "not_csv":
        data = str(tmp_path / "binary.csv")
        (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    code, _, err = run(["fit", "--spec", spec, "--data", data, "--out", str(tmp_path / "f.nc")])
    assert code == EXIT_BAD_INPUT, err
    assert message in err and "Traceback" not in err
    assert err.count("\n") <= 8, err  # a short message
    assert not (tmp_path / "f.nc").exists()


def test_fit_needs_spec_data_and_out():
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--spec", "five_mechanisms"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------- effects
def test_effects_prints_and_writes_the_decomposition(fitted, tmp_path):
    path = fitted[3]
    out_csv = tmp_path / "effects.csv"
    code, out, err = run(["effects", str(path), "--out", str(out_csv), "--seed", "1"])
    assert code == EXIT_NOT_CONVERGED
    assert "did NOT converge" in err and "95% equal-tailed interval" in out
    table = pd.read_csv(out_csv, index_col=[0, 1])
    assert {"mean", "sd", "lower", "upper"} <= set(table.columns)
    for stage in ("crisis", "recovery", "maintenance", "pooled"):
        assert (stage, "TE") in table.index and (stage, "IIE[confidence]") in table.index
    # TE = NDE + NIE on every draw, so on the means too
    te = table.xs("TE", level="effect")["mean"]
    assert (te - table.xs("NDE", level="effect")["mean"] - table.xs("NIE", level="effect")["mean"]).abs().max() < 1e-9


def test_effects_quiet_after_the_command_and_converged_exit_0(fitted, tmp_path, converged):
    code, out, err = run(["effects", str(fitted[3]), "--scale", "risk_ratio", "--quiet", "--out", str(tmp_path / "e.csv")])
    assert code == EXIT_OK
    assert out == "" and err == ""
    table = pd.read_csv(tmp_path / "e.csv", index_col=[0, 1])
    assert "P(>1)" in table.columns  # the ratio scale's null


def test_effects_on_a_missing_or_foreign_file_exits_2(tmp_path, data_csv):
    code, _, err = run(["effects", str(tmp_path / "absent.nc")])
    assert code == EXIT_BAD_INPUT and "does not exist" in err
    code, _, err = run(["effects", str(data_csv)])
    assert code == EXIT_BAD_INPUT and "not a carepaths fit" in err and "Traceback" not in err
    assert err.count("\n") == 1


# ----------------------------------------------------------------------------- compare
def test_parse_intervention():
    iv = parse_intervention("family:discouragement:shift=-0.5:stages=recovery,maintenance")
    assert (iv.name, iv.target, iv.shift, iv.stages) == ("family", "discouragement", -0.5, ("recovery", "maintenance"))
    assert parse_intervention("half:support:scale=0.5").scale == 0.5
    assert parse_intervention("high:support:set=70").set == 70.0
    for bad in ("family", "family:discouragement", "f:discouragement:shift", "f:d:push=1", "f:d:shift=a lot"):
        with pytest.raises(CarepathsError, match="intervention"):
            parse_intervention(bad)


def test_compare_worked_examples(fitted, tmp_path):
    out_csv = tmp_path / "comparison.csv"
    code, out, err = run(["compare", str(fitted[3]), "--examples", "--out", str(out_csv)])
    assert code == EXIT_NOT_CONVERGED, err
    table = pd.read_csv(out_csv, index_col=[0, 1])
    names = list(dict.fromkeys(table.index.get_level_values(0)))
    assert names[0] == "status quo" and "family psychoeducation" in names and len(names) == 5
    assert {"expected", "difference", "lower", "upper", "P(better)", "P(best)"} <= set(table.columns)
    assert "family psychoeducation: discouragement - 0.5 SD in recovery, maintenance" in out


def test_compare_own_interventions_and_a_combination(fitted, tmp_path, converged):
    out_csv = tmp_path / "c.csv"
    code, _, err = run([
        "compare", str(fitted[3]),
        "--intervention", "family:discouragement:shift=-0.5:stages=recovery,maintenance",
        "--intervention", "nothing:attitudes:shift=0",
        "--combine", "family+nothing", "--better", "higher", "--out", str(out_csv),
    ])
    assert code == EXIT_OK, err
    table = pd.read_csv(out_csv, index_col=[0, 1])
    assert set(table.index.get_level_values(0)) == {"status quo", "family", "nothing", "family + nothing"}
    # a shift of 0 changes nothing, exactly; the family intervention does not act in crisis
    assert table.xs("nothing", level=0)["difference"].abs().max() == 0.0
    assert table.loc[("family", "crisis"), "difference"] == 0.0
    assert table.loc[("family + nothing", "recovery"), "difference"] == pytest.approx(
        table.loc[("family", "recovery"), "difference"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "nothing to compare"),
        (["--intervention", "x:no_such_mediator:shift=1"], "no_such_mediator"),
        (["--intervention", "x:attitudes"], "NAME:TARGET:KEY=VALUE"),
        (["--intervention", "x:attitudes:shift=1", "--combine", "x+y"], "--combine"),
        (["--examples", "--intervention", "x:attitudes:shift=1"], "not both"),
    ],
)
def test_compare_bad_input_exits_2(fitted, extra, message):
    code, _, err = run(["compare", str(fitted[3]), *extra])
    assert code == EXIT_BAD_INPUT
    assert message in err and "Traceback" not in err


# ----------------------------------------------------------------------------- check
def test_check_prints_and_writes_the_table(fitted, tmp_path):
    out_csv = tmp_path / "checks.csv"
    code, out, err = run(["check", str(fitted[3]), "--draws", "20", "--out", str(out_csv)])
    assert code == EXIT_NOT_CONVERGED, err
    table = pd.read_csv(out_csv, index_col=[0, 1, 2, 3])
    assert {"observed", "p_value", "flag"} <= set(table.columns)
    assert ("care_use", "mean", "recovery", "all") in table.index
    assert f"{len(table)} statistics checked" in out and "elpd_loo" in out


# ----------------------------------------------------------------------------- graph
def test_graph_prints_identification_and_writes_dot_and_png(tmp_path):
    code, out, _ = run(["graph", "--out", str(tmp_path / "g.dot")])
    assert code == EXIT_OK
    assert "Identification for spec five_mechanisms" in out and "NIE[attitudes]" in out
    assert (tmp_path / "g.dot").read_text().startswith('digraph "five_mechanisms"')
    code, out, _ = run(["--quiet", "graph", "--spec", "visits", "--out", str(tmp_path / "g.png")])
    assert code == EXIT_OK and out == ""
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_bad_input_exits_2(tmp_path):
    code, _, err = run(["graph", "--out", str(tmp_path / "g.txt")])
    assert code == EXIT_BAD_INPUT and ".dot" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[exposure]\nname = "x"\nknd = "binary"\n')
    code, _, err = run(["graph", "--spec", str(bad)])
    assert code == EXIT_BAD_INPUT and "exposure.knd" in err
    code, _, err = run(["graph", "--spec", str(tmp_path / "absent.toml")])
    assert code == EXIT_BAD_INPUT and "Traceback" not in err


# ----------------------------------------------------------------------------- report
def test_report_command_writes_the_report_of_a_saved_fit(fitted, tmp_path):
    _, _, _, path = fitted
    out = tmp_path / "rep"
    code, stdout, err = run(["report", str(path), "--out", str(out), "--examples", "--check-draws", "20"])
    assert code == EXIT_NOT_CONVERGED, err  # the tiny fit did not converge: written, flagged
    html = (out / "report.html").read_text()
    assert "Effect decomposition by stage" in html and "Intervention comparison" in html
    assert "not-converged" in html  # the banner
    for name in ("effects.csv", "checks.csv", "comparison.csv", "diagnostics.csv", "spec.toml"):
        assert (out / name).is_file(), name
    assert "Report:" in stdout


# ----------------------------------------------------------------------------- every command, bad input
def _header_only(tmp, good):
    (tmp / "d.csv").write_text(good.read_text().splitlines()[0] + "\n")


def _duplicate_column(tmp, good):
    frame = pd.read_csv(good)
    frame.insert(1, "dup", frame["support"])
    text = frame.to_csv(index=False).replace("dup,", "support,", 1)
    (tmp / "d.csv").write_text(text)


def _latin1(tmp, good):
    text = good.read_text().replace("yes", "j\u00e4", 1)
    (tmp / "d.csv").write_bytes(text.encode("latin-1"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_header_only, "has a header but no rows"),
        (_duplicate_column, "two columns named 'support'"),
        (_latin1, "is not UTF-8"),
        (lambda tmp, good: (tmp / "d.csv").mkdir(), "is a directory"),
        (lambda tmp, good: (tmp / "d.csv").write_text(""), "is empty"),
    ],
    ids=["header only", "duplicate column", "not UTF-8", "directory", "empty"],
)
def test_data_files_that_pandas_would_misread_exit_2_naming_the_file(tmp_path, data_csv, make, message):
    make(tmp_path, data_csv)
    data = str(tmp_path / "d.csv")
    for argv in (["validate", "five_mechanisms", data],
                 ["fit", "--spec", "five_mechanisms", "--data", data, "--out", str(tmp_path / "f.nc")]):
        code, out, err = run(argv)
        assert code == EXIT_BAD_INPUT, err
        assert message in err and data in err, err
        assert err.count("\n") == 1 and "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    "argv_of",
    [
        lambda t, d, f: ["fit", "--spec", "five_mechanisms", "--data", d, "--out", f"{t}/missing/fit.nc"],
        lambda t, d, f: ["fit", "--spec", "five_mechanisms", "--data", d, "--out", t],
        lambda t, d, f: ["effects", f, "--out", f"{t}/missing/e.csv"],
        lambda t, d, f: ["compare", f, "--examples", "--out", t],
        lambda t, d, f: ["check", f, "--out", f"{t}/missing/c.csv"],
        lambda t, d, f: ["simulate", "five_mechanisms", f"{t}/missing/sim.csv"],
        lambda t, d, f: ["graph", "--out", f"{t}/missing/g.dot"],
        lambda t, d, f: ["demo", "--out", f"{t}/missing/deeper/demo"],
        lambda t, d, f: ["report", f, "--out", f"{t}/missing/deeper/report"],
    ],
    ids=["fit into a missing folder", "fit onto a directory", "effects", "compare onto a directory", "check",
         "simulate", "graph", "demo", "report"],
)
def test_output_paths_are_checked_before_any_work(tmp_path, data_csv, fitted, argv_of):
    _, _, _, fit_path = fitted
    argv = argv_of(str(tmp_path), str(data_csv), str(fit_path))
    code, out, err = run(argv)
    assert code == EXIT_BAD_INPUT, err
    assert ("does not exist" in err or "is a directory" in err) and "Traceback" not in err
    assert err.count("\n") == 1, err  # one line: nothing was computed before it
    assert str(tmp_path) in err and out == ""

@pytest.mark.parametrize("command", ["effects", "compare", "check"])
def test_commands_on_a_missing_fit_exit_2(tmp_path, command):
    extra = ["--examples"] if command == "compare" else []
    code, out, err = run([command, str(tmp_path / "absent.nc"), *extra])
    assert code == EXIT_BAD_INPUT
    assert "does not exist" in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--draws", "0"],
        ["demo", "--persons", "-3"],
        ["demo", "--chains", "two"],
        ["fit", "--spec", "five_mechanisms", "--data", "d.csv", "--out", "f.nc", "--tune", "-1"],
        ["check", "fit.nc", "--draws", "0"],
    ],
)
def test_sizes_must_be_positive_integers(argv, capsys):
    """Checked by the parser, before anything is simulated, compiled or sampled."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "must be at least" in err or "is not an integer" in err, err


def test_run_demo_checks_its_settings_first(tmp_path):
    from carepaths.report.demo import run_demo

    with pytest.raises(CarepathsError, match="chains must be an integer >= 1"):
        run_demo(tmp_path / "demo", chains=0)
    assert not (tmp_path / "demo").exists()


def test_parse_intervention_takes_units_and_refuses_a_bad_one():
    iv = parse_intervention("coach:attitudes:shift=1.5:units=original:stages=recovery")
    assert (iv.shift, iv.units, iv.stages) == (1.5, "original", ("recovery",))
    with pytest.raises(CarepathsError, match="units"):
        parse_intervention("coach:attitudes:shift=1:units=points")


def test_effects_names_each_version_and_states_the_assumptions(fitted):
    _, _, _, path = fitted
    code, out, err = run(["effects", str(path), "--at", "severity=8,16"])
    assert code in (EXIT_OK, EXIT_NOT_CONVERGED), err
    assert "ACME (treated)" in out and "ADE (control)" in out  # a binary outcome: both versions
    assert "Assumptions:" in out and "Index of moderated mediation" in out
    code, _, err = run(["effects", str(path), "--at", "severity"])
    assert code == EXIT_BAD_INPUT and "NAME=VALUE1,VALUE2" in err


def test_fourway_prints_and_writes_the_components(fitted, tmp_path):
    _, _, _, path = fitted
    code, out, err = run(["fourway", str(path), "--mediator", "discouragement", "--out", str(tmp_path / "f.csv")])
    assert code in (EXIT_OK, EXIT_NOT_CONVERGED), err
    table = pd.read_csv(tmp_path / "f.csv", index_col=[0, 1])
    assert set(table.index.get_level_values("component")) == {"CDE", "INT_ref", "INT_med", "PIE", "TE"}
    code, _, err = run(["fourway", str(path)])
    assert code == EXIT_BAD_INPUT and "mediator=" in err and err.count("\n") <= 3


def test_sensitivity_prints_the_crossings_and_writes_table_and_figure(fitted, tmp_path):
    csv, png = tmp_path / "sens.csv", tmp_path / "sens.png"
    code, out, err = run(["sensitivity", str(fitted[3]), "--mediator", "discouragement", "--rho=-0.4,0,0.4",
                          "--out", str(csv), "--plot", str(png)])
    assert code == EXIT_NOT_CONVERGED, err  # the tiny fit did not converge: results written, exit 3
    assert "rho_mean_zero" in out and "E-value" in out and "bias_to_null" in out
    assert "through discouragement" in out
    table = pd.read_csv(csv, index_col=[0, 1, 2])
    assert list(table.index.names) == ["stage", "effect", "rho"]
    assert sorted(set(table.index.get_level_values("rho"))) == [-0.4, 0.0, 0.4]
    assert (table["warning"] == "NOT CONVERGED").all()
    assert png.stat().st_size > 10_000
    assert err.count("carepaths: warning: THE FIT DID NOT CONVERGE") == 1


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--mediator", "discouragement", "--rho=0,1.5"], "strictly between -1 and 1"),
        (["--mediator", "discouragement", "--rho=0,nan"], "not a finite number"),
        (["--mediator", "discouragement", "--rho=a"], "give numbers separated by commas"),
        (["--mediator", "discuragement"], "'discuragement' is not a mediator"),
        ([], "vary one"),
        (["--weights", "discouragement"], "MEDIATOR=WEIGHT"),
        (["--weights", "discouragement=x"], "MEDIATOR=WEIGHT"),
        (["--mediator", "discouragement", "--plot", "sens.gif"], r"\.png, \.svg or \.pdf"),
    ],
)
def test_sensitivity_bad_input_exits_2_in_one_line(fitted, extra, match):
    import re

    code, out, err = run(["sensitivity", str(fitted[3]), *extra])
    assert code == EXIT_BAD_INPUT
    lines = [line for line in err.splitlines() if line.startswith("carepaths: error:")]
    assert len(lines) == 1 and re.search(match, lines[0]), err
    assert "Traceback" not in err


def test_sensitivity_checks_its_output_paths_before_any_work(tmp_path):
    # the fit does not even exist: the missing output folder is reported first
    code, _, err = run(["sensitivity", str(tmp_path / "nofit.nc"), "--plot", str(tmp_path / "no" / "s.png")])
    assert code == EXIT_BAD_INPUT and "s.png" in err and "nofit" not in err
