"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` (`make run`).

They are app/serving/gunicorn_settings.py's, which `openim-auth serve` uses too:
change them there. Each setting can be overridden on the command line or with
GUNICORN_CMD_ARGS.
"""

import os
import sys

# The app package sits next to this file, wherever gunicorn is started from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from app.serving.gunicorn_settings import settings  # noqa: E402

globals().update(settings())
