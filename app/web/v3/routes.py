"""The v3 routes as one blueprint: the header gate over /auth/* and /user/*.

Registered under /v3 beside v2's routes, or at the root of app_v3.
"""

from app.web.v3 import auth, user
from app.web.v3.gate import bp

bp.register_blueprint(auth.bp)
bp.register_blueprint(user.bp)
