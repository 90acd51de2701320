"""/docs in a real headless browser (Debian's chromium), against gunicorn.

The page is empty until Swagger UI's JavaScript has fetched /openapi.json and
rendered it, so finding the operations in the DOM chromium dumps shows that
the assets load from the service and that they understand the document.

The browser loads the page under a host name that is not loopback (Swagger UI
calls its online validator for any other), mapped to 127.0.0.1 by chromium's
resolver rules, every other name unresolvable; chromium's net log then shows
every request the page made (the page itself, and those it initiated: not
chromium's own, to Google), and each must have gone to the page's own host.
"""

import json
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import urlsplit

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


# A name that is not loopback, as the service's is behind a proxy or on a LAN.
PAGE_HOST = "docs.example.internal"


def rendered_dom(url: str, profile_dir, net_log=None) -> str:
    """The DOM once rendered; `net_log`, a path, gets chromium's log of every request."""
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # Nothing leaves the machine, whatever is asked for.
            f"--host-resolver-rules=MAP {PAGE_HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile_dir}",
            *([f"--log-net-log={net_log}", "--net-log-capture-mode=Default"] if net_log else []),
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


def page_requests(net_log, page_url: str) -> set[str]:
    """The URLs of the page and of every request it initiated, from chromium's net log (a JSON document)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    return {
        params["url"]
        for event in log["events"]
        if event["type"] == start_job and "url" in (params := event.get("params", {}))
        if params["url"] == page_url or params.get("initiator") == origin
    }


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


def test_the_page_under_any_host_name_requests_nothing_from_another_host(server, tmp_path):
    """Swagger UI's validator badge would send the document's URL to validator.swagger.io."""
    net_log = tmp_path / "net-log.json"
    page_url = f"http://{PAGE_HOST}:{server.port}/docs"
    dom = rendered_dom(page_url, tmp_path / "chromium-profile", net_log)
    operations = RenderedOperations()
    operations.feed(dom)
    assert "/auth/user_token" in operations.paths, dom[-3000:]
    requested = page_requests(net_log, page_url)
    assert page_url in requested and f"http://{PAGE_HOST}:{server.port}/openapi.json" in requested
    assert {urlsplit(url).netloc for url in requested} == {f"{PAGE_HOST}:{server.port}"}, sorted(requested)
