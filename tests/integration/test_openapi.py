"""/openapi.json of a running cascade documents the real wire format.

POST /v1/classify: three request content types, the classify response model as the 200
body, ErrorResponse for the 4xx/5xx; the admin route appears only on an app started with
an admin token. Two one-member cascades with the tier colocated in the ingress (one
replica each), on the session's shared Ray + Serve.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.serve_helpers import delete_app, wait_until
from tests.integration.test_cascade_serve import standin

TOKEN_ENV = "COE_IT_OPENAPI_TOKEN"
ADMIN_PATH = "/v1/cascade/policy"


def config(name: str) -> dict:
    return {
        "name": name,
        "tiers": [{"name": "only", "gpu_class": "T4", "members": [standin(0, "a")]}],
        "ingress": {"colocate_first_tier": True},
    }


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _deploy(base: str, name: str, token: str | None) -> str:
    from ray import serve

    from serve_app.app import build_app

    with pytest.MonkeyPatch.context() as env:
        if token:
            env.setenv(TOKEN_ENV, token)  # read (and hashed) by build_app only
        else:
            env.delenv(TOKEN_ENV, raising=False)
        app = build_app({"config": config(name), "admin_token_env": TOKEN_ENV})
    serve.run(app, name=name, route_prefix=f"/{name}")
    url = f"{base}/{name}"
    assert wait_until(lambda: _healthy(url), timeout_s=60), f"{name} never became reachable"
    return url


@pytest.fixture(scope="module")
def schemas(ray_serve):
    """openapi.json of an app without and of one with an admin token."""
    names = {"plain": "it-openapi", "admin": "it-openapi-admin"}
    try:
        urls = {
            "plain": _deploy(ray_serve, names["plain"], None),
            "admin": _deploy(ray_serve, names["admin"], "it-openapi-token"),
        }
        yield {kind: httpx.get(url + "/openapi.json", timeout=30).json()
               for kind, url in urls.items()}
    finally:
        for name in names.values():
            delete_app(name)


def resolve(schema: dict, node: dict) -> dict:
    """`node`, following a local `$ref`."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def test_classify_documents_its_request_response_and_errors(schemas):
    schema = schemas["plain"]
    classify = schema["paths"]["/v1/classify"]["post"]

    content = classify["requestBody"]["content"]
    assert {"image/jpeg", "image/png", "application/json"} <= set(content)
    assert content["image/png"]["schema"]["format"] == "binary"
    assert "images" in resolve(schema, content["application/json"]["schema"])["properties"]

    ok = classify["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/ClassifyResponse")
    predictions = resolve(schema, ok)["properties"]["predictions"]
    prediction = resolve(schema, predictions["items"])
    assert {"label", "exit_tier", "tiers", "cost"} <= set(prediction["properties"])
    trace = resolve(schema, prediction["properties"]["tiers"]["items"])
    assert trace["properties"]["decision"]["enum"] == ["exit", "escalate", "failed"]

    for status in ("400", "413", "415", "422", "503", "504"):
        error = classify["responses"][status]["content"]["application/json"]["schema"]
        assert error["$ref"].endswith("/ErrorResponse"), status
    body = resolve(schema, {"$ref": "#/components/schemas/ErrorResponse"})
    assert set(resolve(schema, body["properties"]["error"])["properties"]) == {"code", "message"}
    assert "Retry-After" in classify["responses"]["503"]["headers"]


def test_every_route_has_a_response_model(schemas):
    paths = schemas["plain"]["paths"]
    for path, model in [("/v1/cascade", "CascadeDescription"), ("/v1/stats", "StatsResponse"),
                        ("/healthz", "HealthResponse")]:
        ok = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(f"/{model}"), path


def test_admin_route_is_documented_only_with_a_token(schemas):
    assert ADMIN_PATH not in schemas["plain"]["paths"]
    put = schemas["admin"]["paths"][ADMIN_PATH]["put"]
    assert put["security"] == [{"HTTPBearer": []}]
    assert {"401", "403", "422"} <= set(put["responses"])
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/PolicyUpdate")
