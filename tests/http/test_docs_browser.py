"""/docs in a real headless browser (Debian's chromium), against gunicorn.

The page is empty until Swagger UI's JavaScript has fetched /openapi.json and
rendered it, so finding the operations in the DOM chromium dumps shows that
the assets load from the service and that they understand the document.
"""

import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import requests

pytestmark = [
    pytest.mark.http,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)"),
]

# Virtual time: chromium dumps the DOM once the page has been idle this long (ms) or it ran out.
VIRTUAL_TIME_BUDGET_MS = 15000


class RenderedOperations(HTMLParser):
    """The paths of the operations Swagger UI rendered: its `.opblock-summary-path` elements."""

    def __init__(self):
        super().__init__()
        self.paths = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "opblock-summary-path" in (attributes.get("class") or "").split():
            self.paths.append(attributes.get("data-path"))


def rendered_dom(url: str, profile_dir) -> str:
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile_dir}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_docs_page_renders_the_operations(server, tmp_path):
    dom = rendered_dom(server.url + "/docs", tmp_path / "chromium-profile")
    operations = RenderedOperations()
    operations.feed(dom)
    assert "/auth/user_register" in operations.paths, dom[-3000:]
    assert "/auth/user_token" in operations.paths
    assert "/healthz" in operations.paths
    # Rendered, not merely present in the source: the page as served names no operation.
    served = RenderedOperations()
    served.feed(server_page(server))
    assert served.paths == []


def server_page(server) -> str:
    with requests.get(server.url + "/docs", timeout=30) as response:
        assert response.status_code == 200
        return response.text
