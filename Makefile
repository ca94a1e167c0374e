# Two commands do all set-up: `make demo` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
# CI and local set-up pin the CPU build of torch; `pip install tpt-live` alone keeps the range.
TORCH_SPEC ?= torch==2.13.0
DEMO_DIR ?= demo_out

.PHONY: venv test lint demo clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,lite1]"
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check tpt_live trainer engines tests benchmarks
	$(VENV)/bin/ruff format --check tpt_live trainer engines tests benchmarks
	$(VENV)/bin/mypy tpt_live trainer engines

test: lint
	$(VENV)/bin/python -m pytest -q

demo: venv
	$(VENV)/bin/tpt-live synth $(DEMO_DIR) --videos 1 --frames 150 --size 256x256 --seed 1 --preview
	$(VENV)/bin/tpt-live track $(DEMO_DIR)/synth_s1_000.mp4 --out $(DEMO_DIR)/poses.json \
		--save-video $(DEMO_DIR)/overlay.mp4
	$(VENV)/bin/tpt-live evaluate $(DEMO_DIR) --json $(DEMO_DIR)/evaluation.json
	@echo "demo outputs are in $(DEMO_DIR)/: poses.json, overlay.mp4, evaluation.json, the clip and its preview"

clean:
	rm -rf $(VENV) $(DEMO_DIR)
