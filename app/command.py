"""The `openim-auth` command of the installed package: Flask's CLI bound to the service, and `serve`.

`openim-auth db upgrade`, `openim-auth users …` and every other command that
`flask --app wsgi` has in a checkout; `openim-auth serve` runs gunicorn
(app/serving/gunicorn_service.py); `openim-auth --version`.
"""

import click
from flask.cli import FlaskGroup
from flask_migrate.cli import db

from app import __version__, create_app
from app.admin.cli import users_cli
from app.checkout_or_installed import default_instance_path
from app.serving.gunicorn_service import serve


class ServiceGroup(FlaskGroup):
    """FlaskGroup with the app given: no --app to choose another."""

    def __init__(self, **attrs):
        super().__init__(**attrs)
        self.params = [param for param in self.params if param.name != "app"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Flask's lists the app's commands too, building the app for it, and building it
        # writes the instance folder (generated secrets): `--help` must not. They are ours too.
        return click.Group.list_commands(self, ctx)


@click.group(
    cls=ServiceGroup,
    create_app=create_app,
    add_version_option=False,
    load_dotenv=False,
    help=(
        "The OpenIM-compatible auth service.\n\nSettings: the environment (FLASK_…, OPENIM_…) and config.py in the"
        f" instance folder: OPENIM_INSTANCE_PATH, else {default_instance_path()}."
    ),
)
@click.version_option(__version__, prog_name="openim-auth", message="%(prog)s %(version)s")
def main() -> None:
    pass


main.add_command(db)
main.add_command(users_cli)
main.add_command(serve)
