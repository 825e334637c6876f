# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: demo test lint lab bench bench-pack clean

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name culture --display-name "culture (.venv)" >/dev/null
	touch $(STAMP)

# Headless Chromium renders the report pack in the browser tests (and --pdf).
# Debian's package; installed when missing and we may (root with apt-get).
BROWSER := $(VENV)/.chromium
$(BROWSER): | $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not installed and cannot install it here (needs root + apt-get)"; fi; }
	touch $(BROWSER)

demo: $(STAMP)
	$(BIN)/culture demo

test: $(STAMP) $(BROWSER)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n $(WORKERS) -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

# make bench: the issue's cases at full size -> benchmarks/RESULTS.md (needs `make demo` for
# the briefs case); make bench QUICK=1: the smoke sizes (results/quick.md).
# make bench-pack PEOPLE=100000: the whole quarterly pack at that size, stage by stage.
PEOPLE ?= 5000
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,)

bench-pack: $(STAMP)
	$(BIN)/python -m benchmarks.pack_scale --people $(PEOPLE) --out benchmarks/results/pack-$(PEOPLE).json

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
