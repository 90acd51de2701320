"""The app's clock, in whole seconds as OpenIM's tokens carry them; OPENIM_CLOCK is what tests inject."""

from flask import current_app


def now() -> int:
    return int(current_app.config["OPENIM_CLOCK"]())
