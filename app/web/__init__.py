"""The app's blueprints: what the service answers over HTTP."""
