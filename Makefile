# carepaths: the two set-up commands are `make demo` and `make test` (see README.md).
# Both create the environment when it is missing: a Python 3.13 interpreter (pyenv's on
# these machines), uv in .tools/, and the locked dependencies (uv.lock) in .venv/ with
# bytecode compiled at install time (the machines set PYTHONDONTWRITEBYTECODE=1).

SHELL := /bin/bash
UV_VERSION := 0.13.9
VENV := .venv
UV := .tools/bin/uv
STAMP := $(VENV)/.carepaths-synced

# First interpreter that really is Python 3.13: python3.13 on PATH, else pyenv's install.
PYTHON313 := $(shell for p in python3.13 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: demo test env docs chromium clean bench-pygformula

env: $(STAMP)

$(UV):
	@test -n "$(PYTHON313)" || { echo "carepaths needs Python 3.13 (python3.13 on PATH or pyenv's 3.13.x)"; exit 1; }
	$(PYTHON313) -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON313)
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/carepaths demo --out carepaths-demo

# The test suite also builds the docs (warnings are errors) and needs headless Chromium
# for the report test; both run before pytest. pytest runs on every core (pytest-xdist),
# one test file per worker at a time (--dist loadfile), so each module's fixtures (its
# fitted models) are built once.
test: $(STAMP) docs chromium
	$(VENV)/bin/python -m pytest -n auto --dist loadfile

# The comparison with pygformula (issue 18; benchmarks/pygformula_comparison.py): its own
# environment, .venv-pygformula, because pygformula's dependencies need pandas < 3. Not part
# of `make test`; its figures are in benchmarks/README.md.
bench-pygformula: $(STAMP)
	test -x .venv-pygformula/bin/python || $(UV) venv --python $(PYTHON313) .venv-pygformula
	$(UV) pip install --python .venv-pygformula/bin/python -e . -r benchmarks/pygformula-requirements.txt
	.venv-pygformula/bin/python benchmarks/pygformula_comparison.py

# The documentation site (docs/conf.py: Sphinx, pydata-sphinx-theme, myst-nb) into site/,
# strict: -W makes every warning an error (a broken link or reference to carepaths, a page
# outside the toctree, a docstring that does not parse, a notebook that raises), and
# --keep-going reports them all before failing. -E reads every page afresh (an incremental
# build would not repeat the warnings of unchanged pages, so a broken site could pass).
# The notebooks are executed at build time and cached in .jupyter_cache/ (keyed on the
# notebook and on src/, models/ and uv.lock: docs/notebook_cache.py), so a second build,
# and tests/test_notebooks.py after it, reuse the results. site/ is emptied first so that
# a page whose source is gone (a removed module) does not linger in it.
docs: $(STAMP)
	rm -rf site
	$(VENV)/bin/sphinx-build -W --keep-going -E -b html -d build/doctrees docs site

# Debian's chromium for the headless-browser tests (tests/browser.py). Idempotent: does
# nothing when `chromium` is on PATH. Needs root (or sudo) and apt; where it cannot
# install, it says so and carries on, and the browser tests skip saying how to install.
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "make chromium: no apt-get here; install Chromium yourself (or set CAREPATHS_CHROMIUM); the browser tests skip until then"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
		if [ "$$SUDO" = none ]; then \
			echo "make chromium: not root and no sudo; run 'apt-get install -y chromium' as root; the browser tests skip until then"; \
		else \
			echo "make chromium: installing Debian's chromium (apt-get) ..."; \
			{ $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
				|| echo "make chromium: apt-get could not install chromium; the browser tests skip until it is installed"; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .tools carepaths-demo site build/doctrees build/jupyter_execute docs/api/generated .jupyter_cache
