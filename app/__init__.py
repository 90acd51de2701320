"""OpenIM-compatible auth service: the application factory."""
import logging

from flask import Flask

from app import config, database
from app.extensions import migrate
from app.wire import GoJSONProvider


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=config.instance_path(),
        instance_relative_config=True,
        static_folder=None,
    )
    app.json = GoJSONProvider(app)
    if not app.logger.level:
        app.logger.setLevel(logging.INFO)
    config.load_config(app, test_config)
    database.init_app(app)
    migrate.init_app(app, database.db, directory=str(config.PROJECT_ROOT / "migrations"))
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_blueprints(app: Flask) -> None:
    from app import health, openapi
    from app.auth import bp as auth_bp
    from app.user import bp as user_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(user_bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)


def register_errorhandlers(app: Flask) -> None:
    from app.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from app.cli import users_cli

    app.cli.add_command(users_cli)
