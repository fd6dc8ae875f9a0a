"""The demo report: built end to end on a small panel, opened in headless Chromium.

The module builds one demo (``carepaths demo`` with a small panel and few draws, so the
fit does not converge: that also exercises the banner and exit code 3) and checks the
files, the sections, that every figure renders as a non-empty image in Chromium, and that
the paradox sentence is computed from the posterior. The paradox helpers are also tested
on synthetic effect draws with known probabilities.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest

from browser import INSTALL_HINT, find_chromium, render_report
from carepaths.cli import EXIT_NOT_CONVERGED, main
from carepaths.exceptions import CarepathsError
from carepaths.report.html import SECTIONS
from carepaths.report.paradox import format_probability, paradox_sentences, paradox_table
from test_plots import synthetic_effects

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason=INSTALL_HINT)

#: Small and fast: the fit cannot converge with so few draws.
SMALL = ["--persons", "80", "--waves", "3", "--draws", "60", "--tune", "60", "--seed", "4"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(exit code, stdout, stderr, output folder) of one small `carepaths demo`."""
    out_dir = tmp_path_factory.mktemp("demo") / "carepaths-demo"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo", "--out", str(out_dir), *SMALL])
    return code, out.getvalue(), err.getvalue(), out_dir


# ----------------------------------------------------------------------------- the paradox
def test_paradox_probabilities_are_computed_from_the_draws():
    effects = synthetic_effects(te_means=(0.05, -0.04, -0.02, 0.0), sd=0.03)
    te = effects.draws["TE"]
    table = paradox_table(effects)
    p_up = float((te.sel(stage="crisis") > 0).mean())
    p_down = float((te.sel(stage="recovery") < 0).mean())
    assert table.loc["crisis", "P(raises)"] == pytest.approx(p_up)
    assert table.loc["recovery", "P(lowers)"] == pytest.approx(p_down)
    assert 0.85 < p_up < 1 and 0.8 < p_down < 1  # not degenerate: the numbers carry information
    joint = float(((te.sel(stage="crisis") > 0) & (te.sel(stage="recovery") < 0)).mean())
    assert table.attrs["joint"] == pytest.approx(joint)
    assert list(table.index) == ["crisis", "recovery", "maintenance"]  # no "pooled"
    first = paradox_sentences(effects, exposure="support", outcome="care_use")[0]
    assert first == (
        f"P(support raises care use in crisis) = {p_up:.2f}; "
        f"P(support lowers care use in recovery) = {p_down:.2f}."
    )
    assert p_up < 0.995 and p_down < 0.995  # so two decimals are what format_probability prints


def test_probabilities_never_print_as_certain():
    assert format_probability(0.934, 4000) == "= 0.93"
    assert format_probability(1.0, 4000) == "> 0.999" and format_probability(0.0, 4000) == "< 0.001"
    assert format_probability(1.0, 120) == "> 0.99" and format_probability(0.0, 240) == "< 0.01"
    assert format_probability(0.9996, 4000) == "> 0.999" and format_probability(0.997, 4000) == "= 0.997"
    assert format_probability(0.0004, 4000) == "< 0.001"


def test_paradox_verdict_follows_the_posterior():
    for means, verdict in (
        ((0.1, -0.1, -0.1, 0.0), "supports the paradox"),
        ((-0.1, -0.1, -0.1, -0.1), "speaks against the paradox"),
        ((0.0, 0.0, 0.0, 0.0), "not decisive"),
    ):
        lines = paradox_sentences(synthetic_effects(te_means=means, sd=0.02), exposure="x", outcome="y")
        assert verdict in lines[1], (means, lines[1])
    lines = paradox_sentences(synthetic_effects(te_means=(-0.1, 0.1, 0.1, 0.0)), exposure="x", outcome="y")
    assert "In crisis, x most probably lowers y" in lines[2]


def test_paradox_stages_can_be_chosen_and_are_checked():
    effects = synthetic_effects()
    table = paradox_table(effects, raises_in="crisis", lowers_in="maintenance")
    assert table.attrs["lowers_in"] == "maintenance"
    with pytest.raises(CarepathsError, match="relapse"):
        paradox_table(effects, lowers_in="relapse")


# ----------------------------------------------------------------------------- the demo
def test_demo_writes_the_report_tables_and_fit(demo):
    code, out, err, out_dir = demo
    assert code == EXIT_NOT_CONVERGED, err  # 60 draws cannot converge
    for name in ("report.html", "effects.csv", "diagnostics.csv", "identification.csv", "checks.csv",
                 "comparison.csv", "paradox.csv", "sensitivity.csv", "sensitivity_crossings.csv",
                 "true_effects.csv", "panel.csv", "spec.toml", "fit.nc"):
        assert (out_dir / name).is_file() and (out_dir / name).stat().st_size > 0, name
    assert len(pd.read_csv(out_dir / "panel.csv")) == 240
    effects = pd.read_csv(out_dir / "effects.csv", index_col=[0, 1])
    assert {"mean", "lower", "upper", "true", "covered"} <= set(effects.columns)
    assert ("recovery", "IIE[discouragement]") in effects.index
    # progress names every step; the warning is printed once
    for step in ("[1/8] Simulating", "[2/8] Fitting", "[3/8] Effects", "[4/8] Posterior predictive",
                 "[5/8] Comparing", "[6/8] Sensitivity", "[7/8] Building the report", "[8/8] Wrote"):
        assert step in err
    assert err.count("carepaths: warning: THE FIT DID NOT CONVERGE") == 1
    assert "P(support raises care use in crisis)" in out


def test_report_is_self_contained_and_states_the_panel_size(demo):
    page = (demo[3] / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page), "external reference in the report"
    assert "<script" not in page
    assert "240 person-waves: 80 persons x up to 3 waves" in page
    assert "Missing values: none in the columns the spec uses." in page
    assert "class='banner'" in page and "THE FIT DID NOT CONVERGE" in page
    paradox = pd.read_csv(demo[3] / "paradox.csv", index_col=0)
    n = 2 * 60  # chains x draws of the small demo
    expected = (
        f"P(support raises care use in crisis) {format_probability(paradox.loc['crisis', 'P(raises)'], n)}; "
        f"P(support lowers care use in recovery) {format_probability(paradox.loc['recovery', 'P(lowers)'], n)}."
    )
    assert expected in page


@needs_chromium
def test_report_renders_every_figure_and_section_in_chromium(demo):
    result = render_report(demo[3] / "report.html")
    assert result["title"] == "carepaths demo: the default five-mechanism panel"
    assert result["sections"] == list(SECTIONS)
    figures = result["figures"]
    labels = [f["label"] for f in figures]
    for label in ("causal graph", "effect decomposition by stage", "predictive checks by stage",
                  "posterior predictive distributions", "LOO-PIT", "intervention comparison",
                  "effects against rho by stage"):
        assert label in labels, labels
    for fig in figures:
        assert fig["rendered"], fig
        assert fig["src_scheme"] == "data"
        assert fig["natural_width"] > 200 and fig["natural_height"] > 100, fig
    assert result["all_rendered"]


def test_forest_figure_in_the_report_uses_the_effects_table(demo):
    """The effects CSV and the paradox CSV agree (one set of draws behind both)."""
    effects = pd.read_csv(demo[3] / "effects.csv", index_col=[0, 1])
    paradox = pd.read_csv(demo[3] / "paradox.csv", index_col=0)
    te = effects.xs("TE", level="effect").loc[paradox.index]
    assert np.allclose(te["mean"], paradox["mean"]) and np.allclose(te["lower"], paradox["lower"])
