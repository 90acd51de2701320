"""GET /docs: Swagger UI over the service's OpenAPI documents, for people trying the API.

The page and every asset it loads come from this service: the Swagger UI
distribution is the one the flask-swagger-ui package ships (its dist folder),
served by the route below. Nothing is fetched from a CDN, because the service
often runs where there is no internet. Only the dist files are used, not the
package's blueprint: the page lives at /docs itself, and it lists every
document of DOCUMENTS in Swagger UI's "Select a definition" menu.

Swagger UI's online validator is off (`validatorUrl: null`): on any host but
localhost its badge would send the document's URL, an internal one, to
validator.swagger.io.

These routes are pages, not operations of the API: app/openapi.py leaves the
"docs" blueprint out of the document.
"""

from importlib.resources import files

from flask import Blueprint, current_app, render_template_string, send_from_directory, url_for

from app.web.dialects import V3_PREFIX, dialect_of_path

bp = Blueprint("docs", __name__)

# Endpoints of the documents, the root's first (it opens); wsgi:app_v3 has only that one.
ROOT_DOCUMENT = "openapi.document"
V3_UNDER_PREFIX_DOCUMENT = "v3_openapi.document"

SWAGGER_UI_DIST = files("flask_swagger_ui") / "dist"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }}</title>
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="stylesheet" href="{{ asset('index.css') }}">
  <link rel="icon" type="image/png" href="{{ asset('favicon-32x32.png') }}" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script src="{{ asset('swagger-ui-standalone-preset.js') }}"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        urls: {{ urls | tojson }},
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        layout: "StandaloneLayout",
        validatorUrl: null
      });
    };
  </script>
</body>
</html>
"""


def asset_url(filename: str) -> str:
    return url_for("docs.asset", filename=filename)


@bp.get("/docs")
def page():
    root = dialect_of_path(current_app, "/").wording.TITLE
    urls = [{"name": f"{root} API", "url": url_for(ROOT_DOCUMENT)}]
    if V3_UNDER_PREFIX_DOCUMENT in current_app.view_functions:
        urls.append({"name": f"OpenIM v3 API (under {V3_PREFIX})", "url": url_for(V3_UNDER_PREFIX_DOCUMENT)})
    return render_template_string(PAGE, title="API documentation", urls=urls, asset=asset_url)


@bp.get("/docs/assets/<path:filename>")
def asset(filename: str):
    # send_from_directory refuses paths that leave the folder (404, in the envelope).
    return send_from_directory(SWAGGER_UI_DIST, filename)
