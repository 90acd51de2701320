# One command runs the service, one command tests it.
#   make run    serve on http://127.0.0.1:10000 (SQLite in instance/, secrets generated)
#   make test   the test suite on SQLite, then on MySQL/MariaDB when TEST_DATABASE_URL is set
#               (PYTEST_ARGS='-m "not http"' leaves out the gunicorn round trips of tests/http)
#   make test-http   only the gunicorn round trips, on the same backends as `make test`
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run install test test-sqlite test-mysql test-http clean

$(STAMP): requirements.txt setup.py setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: test-sqlite
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory test-mysql; \
	else echo "TEST_DATABASE_URL not set: MySQL/MariaDB run skipped (see README)"; fi

test-sqlite: $(STAMP)
	env -u TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-mysql: $(STAMP)
	@test -n "$$TEST_DATABASE_URL" || { echo "set TEST_DATABASE_URL=mysql+pymysql://…" >&2; exit 2; }
	$(BIN)/pytest $(PYTEST_ARGS)

test-http:
	$(MAKE) --no-print-directory test PYTEST_ARGS='-m http $(PYTEST_ARGS)'

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# Benchmarks (bench/run.py; see BENCHMARKS.md). Both drive gunicorn with wrk on 127.0.0.1.
#   make bench        full: SQLite, MariaDB if it answers (BENCH_DATABASE_URL), 1M users, 1M-row import
#   make bench-quick  CI smoke, < 1 minute: SQLite, 1 000 users, 3 s runs; bench/out/BENCHMARKS-quick.md
.PHONY: bench bench-quick

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/galera.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# Standalone MariaDB (3306) vs the three-node Galera cluster (3311-3313), three gunicorn instances each;
# ~3 minutes; its own section of BENCHMARKS.md (bench/galera.py). Also the last step of `make bench`.
.PHONY: bench-galera

bench-galera: $(STAMP)
	$(BIN)/python bench/galera.py

# Scale-out on a real multi-primary cluster (tests/galera/, README "Scaling out"): three
# MariaDB Galera nodes on 127.0.0.1:3311-3313 brought up by ../shared/tools/galera-cluster.sh
# (or GALERA_CLUSTER_SCRIPT), one gunicorn instance per node. Not part of `make test`.
.PHONY: test-galera

test-galera: $(STAMP)
	env -u TEST_DATABASE_URL GALERA_TESTS=1 $(BIN)/pytest tests/galera $(PYTEST_ARGS)

# Longer fuzzing than `make test` does (tests/test_fuzz.py, tests/test_v3_fuzz.py): FUZZ_EXAMPLES examples per route
# and generation mode for schemathesis, and per property for the hypothesis tests. Still
# deterministic. On MySQL/MariaDB when TEST_DATABASE_URL is set, else on SQLite.
.PHONY: fuzz
FUZZ_EXAMPLES ?= 1000

fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_fuzz.py tests/test_v3_fuzz.py $(PYTEST_ARGS)
