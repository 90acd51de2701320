"""The examples of OpenIM v2's API page for user_register and user_token (tests/data/openim_v2_api_page.json).

The page is where OpenIM documents these two routes for AppServer developers; its
example requests and the tokens of its example answers are the outside facts the
suite checks drop-in compatibility against. The JSON file names their origin.
"""

import json
from pathlib import Path

PAGE = json.loads((Path(__file__).parent / "data" / "openim_v2_api_page.json").read_text(encoding="utf-8"))

# Raw request bodies, verbatim as the page shows them (whitespace and all).
REGISTER_REQUEST: str = PAGE["user_register"]["request"]
USER_TOKEN_REQUEST: str = PAGE["user_token"]["request"]
REGISTER_ANSWER: dict = PAGE["user_register"]["answer"]
USER_TOKEN_ANSWER: dict = PAGE["user_token"]["answer"]
