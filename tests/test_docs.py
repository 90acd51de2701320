"""GET /docs: the Swagger UI page and its assets, served by the app itself (no CDN)."""

import re

from app import create_app
from tests.helpers import base_config


def test_the_page_loads_its_assets_from_this_service_only(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/assets/swagger-ui-bundle.js" in sources
    assert "/docs/assets/swagger-ui.css" in sources
    assert all(source.startswith("/docs/assets/") for source in sources), sources
    assert "http://" not in page and "https://" not in page


def menu_names(page: str) -> list[str]:
    return re.findall(r'"name": ?"([^"]+)"', page)


def test_the_online_validator_is_off(client):
    """Its badge would send the document's URL to validator.swagger.io (tests/http/test_docs_browser.py)."""
    assert "validatorUrl: null" in client.get("/docs").get_data(as_text=True)


def test_the_page_lists_every_document(client):
    page = client.get("/docs").get_data(as_text=True)
    assert menu_names(page) == ["OpenIM v2 API", "OpenIM v3 API (under /v3)"]
    assert '"/openapi.json"' in page and '"/v3/openapi.json"' in page


def test_app_v3s_page_lists_the_document_it_serves(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    page = create_app(base_config("sqlite://"), root_dialect="v3").test_client().get("/docs").get_data(as_text=True)
    assert '"/openapi.json"' in page and "/v3/openapi.json" not in page
    # The document at app_v3's root is v3's, and the menu says so.
    assert menu_names(page) == ["OpenIM v3 API"]


def test_every_asset_the_page_names_is_served(client):
    page = client.get("/docs").get_data(as_text=True)
    for source in re.findall(r'(?:src|href)="([^"]+)"', page):
        with client.get(source) as response:
            assert response.status_code == 200, source
            assert len(response.data) > 0
    with client.get("/docs/assets/swagger-ui-bundle.js") as response:
        assert response.mimetype in {"text/javascript", "application/javascript"}


def test_an_unknown_or_escaping_asset_is_the_enveloped_404(client):
    for path in ["/docs/assets/nothing.js", "/docs/assets/../__init__.py", "/docs/assets/%2e%2e/__init__.py"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json["errCode"] == 404


def test_other_routes_keep_their_envelope_404(client):
    response = client.get("/docs/other")
    assert (response.status_code, response.json["errCode"]) == (404, 404)
