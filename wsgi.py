"""gunicorn's door: `gunicorn -c gunicorn.conf.py wsgi:app`.

`wsgi:app` serves OpenIM v2 at the root and v3 under /v3; `wsgi:app_v3` serves
v3 at the root, for OpenIM v3's port: `gunicorn -c gunicorn.conf.py -b 0.0.0.0:10002 wsgi:app_v3`.
Each is built when first asked for, so an instance builds only the one it serves.
"""

from functools import cache

from app import create_app


@cache
def _build(name: str):
    return create_app(root_dialect="v3") if name == "app_v3" else create_app()


def __getattr__(name: str):
    if name in ("app", "app_v3"):
        return _build(name)
    raise AttributeError(name)
