"""Where the code runs from: a checkout of the repository, or an installed package.

Two things differ. The default instance folder: the checkout's instance/ (what
`make run` writes to), or for an installed package the working directory's
instance/, never site-packages. And the command that messages name: in a
checkout `flask --app wsgi …` (run from it), installed `openim-auth …`.
"""

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# In a checkout, the folder that holds app/, wsgi.py and gunicorn.conf.py; site-packages when installed.
PROJECT_ROOT = PACKAGE_ROOT.parent
MIGRATIONS = PACKAGE_ROOT / "migrations"
INSTALLED_COMMAND = "openim-auth"
CHECKOUT_COMMAND = "flask --app wsgi"


def in_checkout() -> bool:
    # What `flask --app wsgi` and `make run` need beside the package; an installed package has neither.
    return (PROJECT_ROOT / "wsgi.py").is_file() and (PROJECT_ROOT / "gunicorn.conf.py").is_file()


def default_instance_path() -> str:
    if in_checkout():
        return str(PROJECT_ROOT / "instance")
    return os.path.join(os.getcwd(), "instance")


def admin_command(arguments: str) -> str:
    """`admin_command("db upgrade")`: the command line that does it where this code runs."""
    return f"{CHECKOUT_COMMAND if in_checkout() else INSTALLED_COMMAND} {arguments}"
