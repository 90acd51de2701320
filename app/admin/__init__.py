"""The operators' door: the `flask users …` commands, import, export, import-openim."""
