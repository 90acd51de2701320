"""`openim-auth serve`: gunicorn in this process, with the production settings, serving create_app().

The settings are app/serving/gunicorn_settings.py's, as gunicorn.conf.py gives them
to `gunicorn -c gunicorn.conf.py wsgi:app`, and are overridden in the same order:
GUNICORN_CMD_ARGS, then this command's options.
"""

import click
from gunicorn.app.base import BaseApplication

from app.serving.gunicorn_settings import DEFAULT_BIND, settings


class Service(BaseApplication):
    """No config file, no chdir and no application path: the package itself, from wherever it is started."""

    def __init__(self, options: dict, root_dialect: str):
        self.options = options
        self.root_dialect = root_dialect
        super().__init__(prog="openim-auth serve")

    def load_config(self):
        for name, value in settings().items():
            self.cfg.set(name, value)
        from_environment = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
        for name, value in vars(from_environment).items():
            if value is not None and name in self.cfg.settings:
                self.cfg.set(name, value)
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        from app import create_app

        return create_app(root_dialect=self.root_dialect)


@click.command("serve")
@click.option(
    "--bind",
    "-b",
    "binds",
    multiple=True,
    metavar="HOST:PORT",
    help=f"Where to listen; repeat for several. Default: OPENIM_BIND, else {DEFAULT_BIND}.",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    help="Worker processes. Default: OPENIM_WORKERS, else 2 per usable CPU + 1.",
)
@click.option(
    "--v3-at-root",
    is_flag=True,
    help="Serve OpenIM v3's routes at the root, for v3's port (what wsgi:app_v3 serves); v2 is then not served.",
)
def serve(binds: tuple[str, ...], workers: int | None, v3_at_root: bool) -> None:
    """Run the service under gunicorn with the production settings.

    Other gunicorn settings: GUNICORN_CMD_ARGS="--timeout 60 …". Run `db upgrade` first.
    """
    options = {}
    if binds:
        options["bind"] = list(binds)
    if workers:
        options["workers"] = workers
    Service(options, "v3" if v3_at_root else "v2").run()
