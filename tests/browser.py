"""Open a local HTML file in headless Chromium and report what it rendered.

A helper for the tests (``tests/test_browser.py`` tests it; the report test uses it), not a
test module. The page is opened by Debian's ``chromium`` (``make chromium`` installs it)
with ``--headless --no-sandbox --disable-gpu``.

How it works: an instrumented copy of the page (a ``<base>`` element pointing at the
original folder, so relative references still resolve, and an appended script) is written
to a temporary folder and opened with ``--dump-dom``. The script waits for every image to
load or fail, then measures each ``<img>``, ``<svg>`` and ``<canvas>`` in the live page:
its decoded size, its laid-out size and whether any of its pixels differ (drawn onto a
probe canvas). It writes the results as base64 JSON into an attribute of one element,
which is read back from the dumped DOM. Chromium's virtual time (``--virtual-time-budget``)
keeps the page alive until the script has finished.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

#: Names tried, in order, when ``CAREPATHS_CHROMIUM`` is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: What a test that needs Chromium says when it is missing.
INSTALL_HINT = (
    "headless Chromium is not installed: run `make chromium` (Debian: "
    "`apt-get install -y chromium`), or set CAREPATHS_CHROMIUM to a Chromium/Chrome binary"
)

_RESULT_ID = "carepaths-render-result"

# Runs in the page. Waits for every image (lazy ones are switched to eager), then measures.
# "nonblank" is true when the element's pixels are not all one colour, false when they are,
# and null when the browser refuses to let the pixels be read (a cross-origin image).
_PROBE = r"""
(function () {
  const WAIT_MS = 10000;
  function settle(img) {
    if (img.loading === "lazy") img.loading = "eager";
    if (img.complete) return Promise.resolve();
    return new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
      setTimeout(resolve, WAIT_MS);
    });
  }
  function nonblank(source, w, h) {
    if (!(w > 0 && h > 0)) return false;
    const scale = Math.min(1, 512 / Math.max(w, h));
    const cw = Math.max(1, Math.round(w * scale)), ch = Math.max(1, Math.round(h * scale));
    const probe = document.createElement("canvas");
    probe.width = cw; probe.height = ch;
    const ctx = probe.getContext("2d");
    try {
      ctx.drawImage(source, 0, 0, cw, ch);
      const px = ctx.getImageData(0, 0, cw, ch).data;
      for (let i = 4; i < px.length; i += 4) {
        if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2] || px[i + 3] !== px[3]) {
          return true;
        }
      }
      return false;
    } catch (err) {
      return null;
    }
  }
  function box(el) {
    const r = el.getBoundingClientRect();
    return { width: Math.round(r.width), height: Math.round(r.height) };
  }
  function label(el) {
    return el.getAttribute("alt") || el.getAttribute("aria-label") || el.getAttribute("title") ||
      el.id || (el.querySelector && el.querySelector(":scope > title") ?
        el.querySelector(":scope > title").textContent : "") || "";
  }
  function scheme(src) {
    const m = /^([a-z][a-z0-9+.-]*):/i.exec(src || "");
    return m ? m[1].toLowerCase() : "";
  }
  function svgAsImage(svg) {
    return new Promise((resolve) => {
      const xml = new XMLSerializer().serializeToString(svg);
      const img = new Image();
      const r = svg.getBoundingClientRect();
      img.width = Math.max(1, Math.round(r.width));
      img.height = Math.max(1, Math.round(r.height));
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null);
      img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(xml);
      setTimeout(() => resolve(null), WAIT_MS);
    });
  }
  async function run() {
    const imgs = Array.from(document.querySelectorAll("img"));
    await Promise.all(imgs.map(settle));
    const figures = [];
    imgs.forEach((img, i) => {
      const b = box(img);
      const decoded = img.complete && img.naturalWidth > 0 && img.naturalHeight > 0;
      figures.push({
        tag: "img", index: i, label: label(img), src_scheme: scheme(img.currentSrc || img.src),
        natural_width: img.naturalWidth, natural_height: img.naturalHeight,
        width: b.width, height: b.height, decoded: decoded,
        nonblank: decoded ? nonblank(img, img.naturalWidth, img.naturalHeight) : false,
      });
    });
    const svgs = Array.from(document.querySelectorAll("svg")).filter(
      (s) => !(s.parentElement && s.parentElement.closest("svg")));
    for (let i = 0; i < svgs.length; i++) {
      const svg = svgs[i], b = box(svg);
      const drawn = (b.width > 0 && b.height > 0) ? await svgAsImage(svg) : null;
      figures.push({
        tag: "svg", index: i, label: label(svg), src_scheme: "inline",
        natural_width: b.width, natural_height: b.height, width: b.width, height: b.height,
        decoded: drawn !== null,
        nonblank: drawn ? nonblank(drawn, b.width, b.height) : false,
      });
    }
    Array.from(document.querySelectorAll("canvas")).forEach((c, i) => {
      const b = box(c);
      figures.push({
        tag: "canvas", index: i, label: label(c), src_scheme: "inline",
        natural_width: c.width, natural_height: c.height, width: b.width, height: b.height,
        decoded: c.width > 0 && c.height > 0,
        nonblank: nonblank(c, c.width, c.height),
      });
    });
    const sections = Array.from(document.querySelectorAll("h2, h3")).map((h) => ({
      level: Number(h.tagName.substring(1)), text: h.textContent.replace(/\s+/g, " ").trim(),
    }));
    const result = { title: document.title, figures: figures, sections: sections };
    const bytes = new TextEncoder().encode(JSON.stringify(result));
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    const out = document.createElement("div");
    out.id = "%(result_id)s";
    out.setAttribute("data-result", btoa(bin));
    document.documentElement.appendChild(out);
  }
  function start() {
    run().catch((err) => {
      const out = document.createElement("div");
      out.id = "%(result_id)s";
      out.setAttribute("data-error", btoa(unescape(encodeURIComponent(String(err && err.stack || err)))));
      document.documentElement.appendChild(out);
    });
  }
  if (document.readyState === "complete") start(); else window.addEventListener("load", start);
})();
""" % {"result_id": _RESULT_ID}


def find_chromium() -> str | None:
    """Path of the Chromium binary to use, or None when there is none.

    Returns
    -------
    str or None
        ``$CAREPATHS_CHROMIUM`` when set and executable, else the first of
        :data:`CHROMIUM_NAMES` on ``PATH``.
    """
    override = os.environ.get("CAREPATHS_CHROMIUM")
    if override:
        path = shutil.which(override)
        return path
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _instrument(html: str, base_href: str) -> str:
    """The page with a ``<base>`` to its own folder first in ``<head>`` and the probe last."""
    base = f'<base href="{base_href}">'
    head = re.search(r"<head(\s[^>]*)?>", html, flags=re.IGNORECASE)
    if head:
        html = html[: head.end()] + base + html[head.end() :]
    else:
        doctype = re.match(r"\s*<!doctype[^>]*>", html, flags=re.IGNORECASE)
        cut = doctype.end() if doctype else 0
        html = html[:cut] + base + html[cut:]
    return html + "\n<script>" + _PROBE + "</script>\n"


def render_report(html_path: str | os.PathLike[str], *, timeout: float = 120.0) -> dict[str, Any]:
    """Open a local HTML file in headless Chromium and report its figures and sections.

    Parameters
    ----------
    html_path : str or path-like
        The HTML file. Relative references in it resolve against its own folder.
    timeout : float
        Seconds Chromium may take before :class:`subprocess.TimeoutExpired` is raised.

    Returns
    -------
    dict
        ``title``: the document title. ``sections``: the ``<h2>``/``<h3>`` titles in document
        order (whitespace collapsed). ``headings``: the same as ``{"level", "text"}`` dicts.
        ``figures``: one dict per ``<img>``, outermost ``<svg>`` and ``<canvas>``, in that
        order, with ``tag``, ``index`` (within its tag), ``label`` (alt, aria-label, title
        or id), ``src_scheme`` (``data``, ``file``, ``http`` ... for images; ``inline``
        otherwise), ``natural_width``/``natural_height`` (decoded size), ``width``/``height``
        (laid-out size, CSS pixels), ``decoded`` (the browser produced an image),
        ``nonblank`` (its pixels are not all one colour; None where the browser forbids
        reading them) and ``rendered``: decoded, laid out with a non-zero size, and not
        blank. ``all_rendered``: every figure rendered (True when there are none).

    Raises
    ------
    FileNotFoundError
        If ``html_path`` does not exist.
    RuntimeError
        If Chromium is not installed, exits with an error, or the page's probe reports no
        result.
    """
    path = Path(html_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such HTML file: {path}")
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError(INSTALL_HINT)
    page = _instrument(path.read_text(encoding="utf-8"), path.parent.as_uri() + "/")
    with tempfile.TemporaryDirectory(prefix="carepaths-chromium-") as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(page, encoding="utf-8")
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--window-size=1280,1600",
            "--virtual-time-budget=60000",
            "--dump-dom",
            copy.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    marker = re.search(
        rf'<div id="{_RESULT_ID}" data-(result|error)="([A-Za-z0-9+/=]*)"', proc.stdout
    )
    if marker is None:
        raise RuntimeError(
            f"Chromium (exit {proc.returncode}) returned no render result for {path}; "
            f"stderr tail:\n{proc.stderr[-2000:]}"
        )
    payload = base64.b64decode(marker.group(2)).decode("utf-8")
    if marker.group(1) == "error":
        raise RuntimeError(f"the render probe failed in {path}: {payload}")
    result = json.loads(payload)
    for fig in result["figures"]:
        fig["rendered"] = bool(
            fig["decoded"] and fig["width"] > 0 and fig["height"] > 0 and fig["nonblank"] is not False
        )
    result["headings"] = result.pop("sections")
    result["sections"] = [h["text"] for h in result["headings"] if h["level"] in (2, 3)]
    result["all_rendered"] = all(fig["rendered"] for fig in result["figures"])
    return result
