# Two entry points, both self-setting-up on a fresh machine: `make demo` and `make test`.
# torch is installed from its exact pin first: an unpinned torch pulls several GB of CUDA wheels.
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q $(TORCH)
	$(VENV)/bin/pip install -q -e '.[extract,finetune,test,egemaps,ray]'
	touch $@

.PHONY: setup test demo
setup: $(VENV)/.installed

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/layerprobe demo --out demo-run
