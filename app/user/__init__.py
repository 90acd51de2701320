from flask import Blueprint

bp = Blueprint("user", __name__, url_prefix="/user")

from app.user import views  # noqa: E402,F401  (routes attach to bp)
