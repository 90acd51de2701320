"""Bare Flask: the least a Flask app does to answer the service's 404, for `bench/run.py`.

The same Flask as the service, with no extensions, no before/after-request
hooks, no JSON provider and no routes: an unknown route goes through Flask's
own routing and error handling to one error handler, which returns the very
bytes, status and Content-Type the service answers (bench/test_bare_flask.py
holds it to them). The service's 404 (bench/trivial.lua) against this one is
what the app adds to Flask's own cost.

Served as `gunicorn -c gunicorn.conf.py bench.bare_flask:app`, with the same
settings (and so the same number of workers) as the service.
"""

from flask import Flask

# The service's answer to GET of a route it does not have (app/web/handlers.py, v2's envelope).
NOT_FOUND_BODY = b'{"errCode":404,"errMsg":"unknown route","data":null}'
NOT_FOUND_HEADERS = {"Content-Type": "application/json"}

app = Flask(__name__, static_folder=None)


@app.errorhandler(404)
def not_found(error):
    return NOT_FOUND_BODY, 404, NOT_FOUND_HEADERS
