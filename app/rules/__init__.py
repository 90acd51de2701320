"""What the service decides: users, tokens, access. No HTTP, no wire dialect."""
