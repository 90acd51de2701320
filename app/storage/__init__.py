"""How it is kept: engines, transactions and retries, models, the token records' SQL."""
