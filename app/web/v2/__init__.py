"""OpenIM v2's API (SPEC §1–§5, §9–§10), served at the root: /auth/* and /user/*."""
