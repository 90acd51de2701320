"""Everything HTTP: wire dialects, envelopes, error tables, health, the OpenAPI document.

Data flows one way: a view loads its body (wire.py and the dialect's
schemas), calls a rule of app/, and answers in its dialect's envelope. No
module outside this package imports from it.
"""
