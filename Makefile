# One command runs the service, one command tests it.
#   make run    serve on http://127.0.0.1:10000 (SQLite in instance/, secrets generated)
#   make test   the test suite on SQLite, then on MySQL/MariaDB when TEST_DATABASE_URL is set
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run install test test-sqlite test-mysql clean

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

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
