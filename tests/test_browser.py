"""The headless-Chromium harness (tests/browser.py) on small pages with known answers.

Needs Debian's ``chromium`` (``make chromium``, which ``make test`` runs); without it the
Chromium tests skip and say how to install it.
"""

from __future__ import annotations

import base64
import io

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from browser import INSTALL_HINT, find_chromium, render_report  # noqa: E402

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason=INSTALL_HINT)


def _png(blank: bool = False) -> bytes:
    """A small PNG: a line plot, or a figure with nothing drawn on it (all white)."""
    fig = plt.figure(figsize=(2, 1.5), dpi=50)
    if not blank:
        ax = fig.add_subplot()
        ax.plot([0, 1, 2], [0, 1, 0], color="tab:blue")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@pytest.fixture()
def report(tmp_path):
    """A page with one good embedded figure, one broken image and two sections."""
    html = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>harness check</title></head>
<body>
<h1>Report</h1>
<h2>Effect decomposition</h2>
<img alt="good figure" src="{_data_uri(_png())}">
<h2>Predictive checks</h2>
<img alt="broken figure" src="data:image/png;base64,iVBORw0KGgoAAAAN">
</body></html>
"""
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


@needs_chromium
def test_good_image_renders_and_broken_one_does_not(report):
    result = render_report(report)
    figures = {fig["label"]: fig for fig in result["figures"]}
    assert set(figures) == {"good figure", "broken figure"}
    good, broken = figures["good figure"], figures["broken figure"]
    assert good["rendered"], good
    assert (good["natural_width"], good["natural_height"]) == (100, 75)
    assert good["src_scheme"] == "data"
    assert not broken["rendered"], broken
    assert not broken["decoded"] and broken["natural_width"] == 0
    assert result["all_rendered"] is False
    assert result["sections"] == ["Effect decomposition", "Predictive checks"]
    assert result["title"] == "harness check"


@needs_chromium
def test_blank_figures_and_other_elements(tmp_path):
    """A blank PNG does not count as rendered; inline SVG and canvas are measured too;
    a relative image beside the page resolves; h3 titles are sections, h1/h4 are not."""
    (tmp_path / "beside.png").write_bytes(_png())
    html = f"""<!doctype html><html><head><title>t</title></head><body>
<h1>not a section</h1><h2>Graph</h2>
<img alt="blank" src="{_data_uri(_png(blank=True))}">
<img alt="relative" src="beside.png">
<h3>Identification <em>verdicts</em></h3><h4>not a section either</h4>
<svg width="60" height="40" aria-label="drawn svg"><rect x="5" y="5" width="30" height="20" fill="navy"/></svg>
<svg width="60" height="40" aria-label="empty svg"></svg>
<canvas id="painted" width="30" height="30"></canvas>
<script>document.getElementById("painted").getContext("2d").fillRect(0, 0, 10, 10);</script>
</body></html>"""
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    result = render_report(path)
    rendered = {fig["label"]: fig["rendered"] for fig in result["figures"]}
    assert rendered == {
        "blank": False,
        "relative": True,
        "drawn svg": True,
        "empty svg": False,
        "painted": True,
    }
    relative = next(f for f in result["figures"] if f["label"] == "relative")
    assert relative["src_scheme"] == "file"
    assert result["sections"] == ["Graph", "Identification verdicts"]
    assert [h["level"] for h in result["headings"]] == [2, 3]


def test_missing_chromium_is_reported_with_the_install_command(report, monkeypatch):
    monkeypatch.setenv("CAREPATHS_CHROMIUM", "/nonexistent/chromium")
    assert find_chromium() is None
    with pytest.raises(RuntimeError, match="make chromium"):
        render_report(report)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        render_report(tmp_path / "absent.html")
