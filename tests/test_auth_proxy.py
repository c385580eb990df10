"""The realm and URLs behind a TLS-terminating nginx (trusted X-Forwarded-*), never trusting
forwarded headers from arbitrary clients, the configured external URL, and ocireg's own HTTPS."""
import pytest
import requests

from authutil import add_user, bearer, grant, nginx_tls, parse_challenge, self_signed, token


@pytest.fixture
def nginx_proxy(tmp_path):
    """Start nginx with TLS on a free loopback port; yields a function(upstream_port) -> url."""
    def server_block(port, cert, key, upstream_port):
        return f"""
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    client_max_body_size 0;
    location / {{
      proxy_pass http://127.0.0.1:{upstream_port};
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_set_header Host 127.0.0.1:{upstream_port};
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host:$server_port;
    }}
  }}
"""

    with nginx_tls(tmp_path, server_block) as start:
        yield start


@pytest.fixture
def auth_data(tmp_path):
    data = tmp_path / "data"
    add_user(data, "alice", "alice-pass")
    grant(data, "alice", "team/*", "pull,push")
    return data


def test_realm_behind_trusted_tls_proxy(registry_factory, nginx_proxy, auth_data):
    server = registry_factory(extra_args=["--trusted-proxy", "127.0.0.1"], data_dir=auth_data)
    url, cert = nginx_proxy(server.port)
    r = requests.get(f"{url}/v2/", verify=cert, timeout=10)
    assert r.status_code == 401
    assert parse_challenge(r.headers["WWW-Authenticate"])["realm"] == f"{url}/token"
    r = requests.get(f"{url}/token", params={"service": "ocireg",
                                             "scope": "repository:team/app:pull,push"},
                     auth=("alice", "alice-pass"), verify=cert, timeout=30)
    tok = r.json()["token"]
    r = requests.post(f"{url}/v2/team/app/blobs/uploads/", headers=bearer(tok), verify=cert,
                      timeout=10)
    assert r.status_code == 202
    assert r.headers["Location"].startswith("/v2/team/app/blobs/uploads/"), \
        "Location must work through the proxy (relative)"


def test_forwarded_headers_from_untrusted_clients_are_ignored(registry_factory, auth_data):
    server = registry_factory(data_dir=auth_data)
    r = requests.get(f"{server.url}/v2/", timeout=10, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert parse_challenge(r.headers["WWW-Authenticate"])["realm"] == f"{server.url}/token"


def test_forwarded_headers_ignored_when_proxy_address_differs(registry_factory, auth_data):
    server = registry_factory(extra_args=["--trusted-proxy", "10.9.9.9"], data_dir=auth_data)
    r = requests.get(f"{server.url}/v2/", timeout=10, headers={"X-Forwarded-Host": "evil.example"})
    assert "evil.example" not in r.headers["WWW-Authenticate"]


def test_external_url_sets_the_realm(registry_factory, auth_data):
    server = registry_factory(extra_args=["--external-url", "https://registry.example.com/"],
                              data_dir=auth_data)
    r = requests.get(f"{server.url}/v2/", timeout=10)
    assert parse_challenge(r.headers["WWW-Authenticate"])["realm"] == \
        "https://registry.example.com/token"


def test_https_with_own_certificate(registry_factory, auth_data, tmp_path):
    cert, key = self_signed(tmp_path)
    server = registry_factory(extra_args=["--tls-cert", str(cert), "--tls-key", str(key)],
                              data_dir=auth_data, scheme="https", verify=str(cert))
    r = requests.get(f"{server.url}/v2/", verify=str(cert), timeout=10)
    assert r.status_code == 401
    assert parse_challenge(r.headers["WWW-Authenticate"])["realm"].startswith("https://")
    tok = token(server.url, ["repository:team/app:pull"], "alice", "alice-pass", verify=str(cert))
    r = requests.get(f"{server.url}/v2/team/app/tags/list", headers=bearer(tok),
                     verify=str(cert), timeout=10)
    assert r.status_code == 404, "authorized; the repository does not exist yet"
