"""The command line: each command works, and bad input exits 2 with a short message."""

from __future__ import annotations

import pandas as pd
import pytest

from carepaths.cli import main


def test_demo_writes_truth_and_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--persons", "60", "--waves", "3"]) == 0
    printed = capsys.readouterr().out
    assert "Exposure  X: support" in printed and "TRUE effects of the simulation" in printed
    truth = pd.read_csv(out / "true_effects.csv")
    assert {"stage", "effect", "true", "mc_se"} <= set(truth.columns)
    assert len(pd.read_csv(out / "panel.csv")) == 180
    report = (out / "report.md").read_text()
    assert "no estimates are reported" in report


def test_simulate_then_validate_round_trip(tmp_path, capsys):
    csv = tmp_path / "visits.csv"
    assert main(["--quiet", "simulate", "visits", str(csv), "--persons", "40", "--waves", "2"]) == 0
    assert len(pd.read_csv(csv)) == 80
    assert (tmp_path / "visits.truth.csv").exists()
    assert main(["validate", "visits", str(csv)]) == 0
    assert "<Panel 80 rows, 40 persons" in capsys.readouterr().out


def test_bad_spec_key_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[exposure]\nname = "x"\nknd = "binary"\n')
    assert main(["validate", str(bad), "whatever.csv"]) == 2
    err = capsys.readouterr().err
    assert "exposure.knd" in err and "Traceback" not in err


def test_missing_data_file_exits_2(capsys):
    assert main(["validate", "five_mechanisms", "no/such/file.csv"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_column_exits_2(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    assert main(["--quiet", "simulate", "five_mechanisms", str(csv), "--persons", "30"]) == 0
    pd.read_csv(csv).drop(columns=["confidence"]).to_csv(csv, index=False)
    assert main(["validate", "five_mechanisms", str(csv)]) == 2
    assert "missing column(s) ['confidence']" in capsys.readouterr().err


def test_unknown_command_is_an_argparse_error():
    with pytest.raises(SystemExit) as exc:
        main(["fly"])
    assert exc.value.code == 2
