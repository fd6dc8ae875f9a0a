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

.PHONY: demo test env clean

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

test: $(STAMP)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) .tools carepaths-demo
