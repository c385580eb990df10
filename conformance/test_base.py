"""end-1: GET /v2/ — determining support."""
import json


def test_get_v2_is_200(client):
    r = client.get("/v2/")
    assert r.status_code == 200, f"GET /v2/ must be 200 OK for a registry implementing the spec; got {r.status_code}"


def test_get_v2_has_docker_distribution_api_version_header(client):
    r = client.get("/v2/")
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0", (
        f"expected Docker-Distribution-API-Version: registry/2.0; got {r.headers.get('Docker-Distribution-API-Version')!r}")


def test_get_v2_body_is_json(client):
    r = client.get("/v2/")
    assert r.status_code == 200
    if r.content:
        json.loads(r.content)  # Docker convention: `{}`; any body must at least be JSON


def test_head_v2_is_200(client):
    r = client.head("/v2/")
    assert r.status_code == 200, f"HEAD /v2/ should mirror GET /v2/ (200); got {r.status_code}"
    assert r.content == b""


def test_get_v2_without_trailing_slash_does_not_fail(client):
    r = client.get("/v2", allow_redirects=True)
    assert r.status_code in (200, 404), f"GET /v2 must be 200 (directly or by redirect) or 404; got {r.status_code}"
    assert r.status_code < 500


def test_unknown_v2_endpoint_is_404(client, repo):
    r = client.get(f"/v2/{repo}/nonsense/endpoint")
    assert r.status_code in (404, 400), f"unknown endpoint must be 404 (or 400 for an unparsable name); got {r.status_code}"


def test_path_outside_v2_is_404(client):
    r = client.get("/v3/")
    assert r.status_code == 404, f"GET /v3/ is not part of the API: expected 404, got {r.status_code}"
