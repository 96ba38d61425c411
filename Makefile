# neurodeploy: all set-up happens here. `make demo` and `make test` create .venv if missing.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.neurodeploy-installed

.PHONY: demo test lint bench figures venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x "$(PY)" ]; then \
		py=$$(scripts/find_python310.sh) || exit 1; \
		echo "creating $(VENV) with $$py"; \
		"$$py" -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,cluster]"
	@# lava-dl (netx, for tests/test_netx.py) pins torch<2.4 and pytest<8, sinabs (its NIR
	@# export, for tests/test_sinabs_interop.py) nir<=1.0.4 and samna: installed without
	@# their dependencies; what they need at import time is pinned in the dev extra.
	$(PY) -m pip install --quiet --no-deps lava-dl==0.6.0 sinabs==3.1.3
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neurodeploy demo

test: $(STAMP)
	$(PY) -m ruff check neurodeploy models quantize targets tests bench scripts
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check neurodeploy models quantize targets tests bench scripts

bench: $(STAMP)
	$(PY) bench/bench_simulators.py

# The README's result tables, regenerated in place: the cheap ones by default,
# FIGURES="--all" (or "--only NAME ...") for the 3-seed tables and the benches.
figures: $(STAMP)
	$(PY) scripts/figures.py $(FIGURES)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
