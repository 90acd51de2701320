"""OpenIM-compatible auth service: the application factory."""

# The one place of the version: the package metadata (pyproject.toml), --version and the OpenAPI documents.
__version__ = "0.1.0"

import logging

from flask import Flask
from flask.logging import default_handler

from app import config
from app.checkout_or_installed import MIGRATIONS
from app.extensions import migrate
from app.serving.log_format import use_format
from app.storage import database, openim_redis
from app.web.request_io import GoJSONProvider
from app.web.service_flask import ServiceFlask


def create_app(test_config: dict | None = None, *, root_dialect: str = "v2") -> Flask:
    """The service: v2 at the root and v3 under /v3; with root_dialect="v3", only v3, at the root."""
    app = ServiceFlask(
        __name__,
        instance_path=config.instance_path(),
        instance_relative_config=True,
        static_folder=None,
    )
    app.json = GoJSONProvider(app)
    configure_logging(app, config.log_format(test_config))
    config.load_config(app, test_config)
    database.init_app(app)
    openim_redis.init_app(app)
    migrate.init_app(app, database.db, directory=str(MIGRATIONS))
    register_blueprints(app, root_dialect)
    register_errorhandlers(app)
    register_commands(app)
    return app


def configure_logging(app: Flask, log_format: str = "text") -> None:
    """INFO and up; under gunicorn, straight to its error log's handlers, at its level.

    Flask's default handler would reach the same place through each request's
    `wsgi.errors`, looking the stream up again on every write. gunicorn's
    handlers already write JSON when the format is json (app/serving/log_format.py).
    """
    gunicorn_error_log = logging.getLogger("gunicorn.error")
    use_format(app.logger, log_format, under_gunicorn=bool(gunicorn_error_log.handlers))
    if gunicorn_error_log.handlers:
        app.logger.removeHandler(default_handler)
        for handler in gunicorn_error_log.handlers:
            app.logger.addHandler(handler)
        app.logger.setLevel(gunicorn_error_log.level)
    elif not app.logger.level:
        app.logger.setLevel(logging.INFO)


def register_blueprints(app: Flask, root_dialect: str) -> None:
    from app.web import docs, health, openapi, prometheus
    from app.web.dialects import V2, V3, V3_PREFIX, serve_dialect
    from app.web.v2 import auth, user
    from app.web.v3 import routes as v3_routes

    if root_dialect == "v3":
        app.register_blueprint(v3_routes.bp, url_prefix="")
        serve_dialect(app, "", V3)
    else:
        app.register_blueprint(auth.bp)
        app.register_blueprint(user.bp)
        serve_dialect(app, "", V2)
        app.register_blueprint(v3_routes.bp, url_prefix=V3_PREFIX)
        app.register_blueprint(openapi.bp, url_prefix=V3_PREFIX, name="v3_openapi")
        serve_dialect(app, V3_PREFIX, V3)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(docs.bp)
    if app.config["OPENIM_METRICS"]:
        app.register_blueprint(prometheus.bp)


def register_errorhandlers(app: Flask) -> None:
    from app.web import every_answer, handlers, prometheus

    handlers.init_app(app)
    every_answer.init_app(app)
    if app.config["OPENIM_METRICS"]:
        prometheus.init_app(app)


def register_commands(app: Flask) -> None:
    from app.admin.cli import users_cli

    app.cli.add_command(users_cli)
