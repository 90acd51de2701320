"""OpenIM v2's API (docs/api-v2.md–§5, §9–§10), served at the root: /auth/* and /user/*."""
