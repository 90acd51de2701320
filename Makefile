# One command runs the service, one command tests it.
#   make run    serve on http://127.0.0.1:10000 (SQLite in instance/, secrets generated)
#   make test   the test suite on SQLite, then on MySQL/MariaDB when TEST_DATABASE_URL is set
#               (PYTEST_ARGS='-m "not http and not package"' leaves out the gunicorn round trips of
#               tests/http and the wheel built and installed by tests/package)
#   make test-http   only the gunicorn round trips, on the same backends as `make test`
#   make lint   ruff's checks and formatting (ruff.toml)
#   make lock   recompile requirements.txt and requirements-dev.txt from their .in files
#
# `make run` installs requirements.txt only (the runtime); the test, fuzz, bench and lint
# targets add requirements-dev.txt. Both are pinned with every transitive dependency.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: run install install-dev test test-sqlite test-mysql test-http lint lock clean

$(STAMP): requirements.txt setup.py setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PIP_INSTALL) -r requirements.txt -r requirements-dev.txt
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: test-sqlite
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory test-mysql; \
	else echo "TEST_DATABASE_URL not set: MySQL/MariaDB run skipped (see docs/architecture.md)"; fi

test-sqlite: $(DEV_STAMP)
	env -u TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-mysql: $(DEV_STAMP)
	@test -n "$$TEST_DATABASE_URL" || { echo "set TEST_DATABASE_URL=mysql+pymysql://…" >&2; exit 2; }
	$(BIN)/pytest $(PYTEST_ARGS)

test-http:
	$(MAKE) --no-print-directory test PYTEST_ARGS='-m http $(PYTEST_ARGS)'

# Both run, so that one look shows all findings; either failing fails the target.
lint: $(DEV_STAMP)
	@status=0; $(BIN)/ruff check . || status=1; $(BIN)/ruff format --check . || status=1; exit $$status

# Keeps the versions already pinned; `make lock PIP_COMPILE_ARGS=--upgrade` (or
# --upgrade-package NAME) moves them. pip-tools itself is a tool, not a dependency.
PIP_TOOLS ?= pip-tools==7.6.2
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(PIP_COMPILE_ARGS)

lock: $(STAMP)
	$(PIP_INSTALL) "$(PIP_TOOLS)"
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info

# Benchmarks (bench/run.py; see BENCHMARKS.md). They drive gunicorn with wrk on 127.0.0.1.
#   make bench        full: SQLite, MariaDB if it answers (BENCH_DATABASE_URL), 1M users, 1M-row import
#   make bench-quick  CI smoke, < 1 minute: SQLite, 1 000 users, 3 s runs; bench/out/BENCHMARKS-quick.md
#   make bench-ab REF=<commit>
#                     REF (git archive of it) against this working tree, uncommitted changes included,
#                     or against HEAD_REF=<commit>: both served turn about, each from its own code and
#                     database; per route the median req/s and p99 of each and HEAD / REF (bench/ab.py;
#                     bench/out/ab-<REF>.md). A commit's speed claim again: REF=<commit>~1 HEAD_REF=<commit>.
#                     ROUNDS=3 SECONDS=5 USERS=100000 ROUTES=token,token_v3,register,trivial by default;
#                     on MariaDB with BENCH_DATABASE_URL (databases <its name>_ref and _head). ~2.5 minutes.
.PHONY: bench bench-quick bench-ab

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/galera.py

bench-quick: $(DEV_STAMP)
	$(BIN)/python bench/run.py --quick

bench-ab: $(DEV_STAMP)
	@test -n "$(REF)" || { echo "usage: make bench-ab REF=<commit> [HEAD_REF=<commit>] [ROUNDS=3] [SECONDS=5] [USERS=100000] [ROUTES=token,...]" >&2; exit 2; }
	$(BIN)/python bench/ab.py '$(REF)' $(if $(HEAD_REF),--head '$(HEAD_REF)') $(if $(ROUNDS),--rounds $(ROUNDS)) \
		$(if $(SECONDS),--seconds $(SECONDS)) $(if $(USERS),--users $(USERS)) $(if $(ROUTES),--routes $(ROUTES))

# Standalone MariaDB (3306) vs the three-node Galera cluster (3311-3313), three gunicorn instances each;
# ~3 minutes; its own section of BENCHMARKS.md (bench/galera.py). Also the last step of `make bench`.
.PHONY: bench-galera

bench-galera: $(DEV_STAMP)
	$(BIN)/python bench/galera.py

# Scale-out on a real multi-primary cluster (tests/galera/, docs/deployment.md "Galera"): three
# MariaDB Galera nodes on 127.0.0.1:3311-3313 brought up by scripts/galera-cluster.sh
# (or GALERA_CLUSTER_SCRIPT), one gunicorn instance per node. Not part of `make test`.
.PHONY: test-galera

test-galera: $(DEV_STAMP)
	env -u TEST_DATABASE_URL GALERA_TESTS=1 $(BIN)/pytest tests/galera $(PYTEST_ARGS)

# Longer fuzzing than `make test` does (tests/test_fuzz.py, tests/test_v3_fuzz.py): FUZZ_EXAMPLES examples per route
# and generation mode for schemathesis, and per property for the hypothesis tests. Still
# deterministic. On MySQL/MariaDB when TEST_DATABASE_URL is set, else on SQLite.
.PHONY: fuzz
FUZZ_EXAMPLES ?= 1000

fuzz: $(DEV_STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_fuzz.py tests/test_v3_fuzz.py $(PYTEST_ARGS)
