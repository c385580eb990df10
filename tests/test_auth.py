"""Token authentication and repository access policy, driven by hand with requests: the
challenge, the token endpoint, scope checks and escalation attempts, anonymous access,
throttling of failed logins, refresh tokens, catalog filtering and cross-repository mounts."""
import hashlib
import json
import os
import subprocess

import pytest
import requests

from authutil import add_user, bearer, claims, cli, grant, parse_challenge, token
from ocireg_harness import ocireg_binary


@pytest.fixture
def auth_registry(registry_factory, tmp_path):
    data = tmp_path / "authdata"
    add_user(data, "alice", "alice-pass")
    add_user(data, "reader", "reader-pass")
    grant(data, "alice", "team-a/*", "pull,push,delete")
    grant(data, "reader", "team-a/*", "pull")
    grant(data, "anonymous", "public/*", "pull")
    grant(data, "alice", "public/*", "push")
    return registry_factory(data_dir=data)


def push_blob(url, repo, data, tok):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{url}/v2/{repo}/blobs/uploads/?digest={d}", data=data,
                      headers=bearer(tok), timeout=30)
    return d, r


def push_image(url, repo, tag, tok):
    cfg = b'{"architecture":"amd64","os":"linux"}'
    cd, r = push_blob(url, repo, cfg, tok)
    assert r.status_code == 201, r.text
    ld, r = push_blob(url, repo, b"layer-" + repo.encode(), tok)
    assert r.status_code == 201, r.text
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                   "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld,
                    "size": len(b"layer-" + repo.encode())}]}).encode()
    r = requests.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest, headers={
        **bearer(tok), "Content-Type": "application/vnd.oci.image.manifest.v1+json"}, timeout=30)
    assert r.status_code == 201, r.text
    return ld


def test_base_without_token_is_challenged(auth_registry):
    r = requests.get(f"{auth_registry.url}/v2/", timeout=10)
    assert r.status_code == 401
    ch = parse_challenge(r.headers.get("WWW-Authenticate"))
    assert ch["realm"] == f"{auth_registry.url}/token" and ch["service"] == "ocireg"
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("method,path,scope", [
    ("GET", "/v2/team-a/app/manifests/v1", "repository:team-a/app:pull"),
    ("HEAD", "/v2/team-a/app/blobs/sha256:" + "0" * 64, "repository:team-a/app:pull"),
    ("GET", "/v2/team-a/app/tags/list", "repository:team-a/app:pull"),
    ("POST", "/v2/team-a/app/blobs/uploads/", "repository:team-a/app:pull,push"),
    ("PUT", "/v2/team-a/app/manifests/v1", "repository:team-a/app:pull,push"),
    ("DELETE", "/v2/team-a/app/manifests/v1", "repository:team-a/app:delete"),
    ("GET", "/v2/_catalog", "registry:catalog:*"),
])
def test_challenge_names_exactly_the_needed_scope(auth_registry, method, path, scope):
    r = requests.request(method, auth_registry.url + path, timeout=10)
    assert r.status_code == 401, f"{method} {path}: expected 401, got {r.status_code}"
    assert parse_challenge(r.headers["WWW-Authenticate"])["scope"] == scope


def test_token_flow_push_then_pull(auth_registry):
    url = auth_registry.url
    tok = token(url, ["repository:team-a/app:pull,push"], "alice", "alice-pass")
    c = claims(tok)
    assert c["sub"] == "alice" and c["aud"] == "ocireg" and c["iss"] == "ocireg"
    assert c["access"] == [{"type": "repository", "name": "team-a/app",
                            "actions": ["pull", "push"]}]
    assert {"exp", "nbf", "iat", "jti"} <= set(c)
    push_image(url, "team-a/app", "v1", tok)
    r = requests.get(f"{url}/v2/team-a/app/manifests/v1", headers=bearer(tok), timeout=10)
    assert r.status_code == 200


def test_token_grants_only_requested_intersect_granted(auth_registry):
    tok = token(auth_registry.url, ["repository:team-a/app:pull,push,delete",
                                    "repository:team-b/app:pull"], "reader", "reader-pass")
    assert claims(tok)["access"] == [{"type": "repository", "name": "team-a/app",
                                      "actions": ["pull"]}]


def test_token_for_one_repository_does_not_reach_others(auth_registry):
    url = auth_registry.url
    tok = token(url, ["repository:team-a/app:pull,push"], "alice", "alice-pass")
    for other in ("team-a/app2", "team-a/app/x", "team-a"):
        r = requests.get(f"{url}/v2/{other}/tags/list", headers=bearer(tok), timeout=10)
        assert r.status_code == 401, f"token for team-a/app reached {other}: {r.status_code}"
        assert "insufficient_scope" in r.headers["WWW-Authenticate"]


def test_read_only_user_cannot_push(auth_registry):
    tok = token(auth_registry.url, ["repository:team-a/app:pull,push"], "reader", "reader-pass")
    _, r = push_blob(auth_registry.url, "team-a/app", b"x", tok)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "DENIED"


def test_anonymous_pulls_public_but_cannot_push(auth_registry):
    url = auth_registry.url
    alice = token(url, ["repository:public/tools:pull,push"], "alice", "alice-pass")
    push_image(url, "public/tools", "latest", alice)
    anon = token(url, ["repository:public/tools:pull,push"])
    assert claims(anon)["access"] == [{"type": "repository", "name": "public/tools",
                                       "actions": ["pull"]}]
    r = requests.get(f"{url}/v2/public/tools/manifests/latest", headers=bearer(anon), timeout=10)
    assert r.status_code == 200
    _, r = push_blob(url, "public/tools", b"anon", anon)
    assert r.status_code == 401
    anon_private = token(url, ["repository:team-a/app:pull"])
    assert claims(anon_private)["access"] == []


def test_wrong_password_is_401(auth_registry):
    r = requests.get(f"{auth_registry.url}/token", params={"service": "ocireg"},
                     auth=("alice", "nope"), timeout=30)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    r = requests.get(f"{auth_registry.url}/token", params={"service": "ocireg"},
                     auth=("nobody", "nope"), timeout=30)
    assert r.status_code == 401


def test_failed_logins_are_rate_limited(auth_registry):
    url = auth_registry.url
    statuses = [requests.get(f"{url}/token", auth=("reader", f"bad{i}"), timeout=30).status_code
                for i in range(12)]
    assert statuses[:10] == [401] * 10, statuses
    assert statuses[10:] == [429, 429], statuses
    r = requests.get(f"{url}/token", auth=("reader", "reader-pass"), timeout=30)
    assert r.status_code == 429, "even the right password waits while the user is blocked"
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_tampered_or_foreign_tokens_are_rejected(auth_registry):
    url = auth_registry.url
    tok = token(url, ["repository:team-a/app:pull"], "alice", "alice-pass")
    head, payload, sig = tok.split(".")
    forged = ".".join([head, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1],
                       sig])
    for bad in (forged, tok + "x", "not-a-token", head + "." + payload + "."):
        r = requests.get(f"{url}/v2/team-a/app/tags/list", headers=bearer(bad), timeout=10)
        assert r.status_code == 401, f"token {bad[:20]}... accepted"
        assert "invalid_token" in r.headers["WWW-Authenticate"]


def test_oauth_password_and_refresh_grants(auth_registry):
    url = auth_registry.url
    r = requests.post(f"{url}/token", data={
        "grant_type": "password", "username": "alice", "password": "alice-pass",
        "service": "ocireg", "scope": "repository:team-a/app:pull repository:team-a/b:push",
        "client_id": "test", "access_type": "offline"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(claims(body["access_token"])["access"]) == 2
    refresh = body["refresh_token"]
    r = requests.post(f"{url}/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "service": "ocireg",
        "scope": "repository:team-a/app:pull", "client_id": "test"}, timeout=30)
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["sub"] == "alice"
    r = requests.get(f"{url}/v2/team-a/app/tags/list", headers=bearer(refresh), timeout=10)
    assert r.status_code == 401, "a refresh token must not work as an access token"
    r = requests.post(f"{url}/token", data={
        "grant_type": "password", "username": "alice", "password": "wrong",
        "service": "ocireg"}, timeout=30)
    assert r.status_code == 401


def test_catalog_lists_only_pullable_repositories(auth_registry):
    url = auth_registry.url
    alice = token(url, ["repository:team-a/one:pull,push"], "alice", "alice-pass")
    push_image(url, "team-a/one", "v1", alice)
    alice_pub = token(url, ["repository:public/two:pull,push"], "alice", "alice-pass")
    push_image(url, "public/two", "v1", alice_pub)
    cat = ["registry:catalog:*"]
    anon = requests.get(f"{url}/v2/_catalog", headers=bearer(token(url, cat)), timeout=10)
    assert anon.json()["repositories"] == ["public/two"]
    reader = token(url, cat, "reader", "reader-pass")
    r = requests.get(f"{url}/v2/_catalog", headers=bearer(reader), timeout=10)
    assert r.json()["repositories"] == ["public/two", "team-a/one"]
    r = requests.get(f"{url}/v2/_catalog?n=1", headers=bearer(reader), timeout=10)
    assert r.json()["repositories"] == ["public/two"] and "last=public/two" in r.headers["Link"]


def test_mount_needs_pull_on_source(auth_registry, tmp_path):
    url = auth_registry.url
    alice = token(url, ["repository:team-a/src:pull,push"], "alice", "alice-pass")
    layer = push_image(url, "team-a/src", "v1", alice)
    add_user(auth_registry.data, "bob", "bob-pass")
    grant(auth_registry.data, "bob", "bob/*", "pull,push")
    bob = token(url, ["repository:bob/dst:pull,push", "repository:team-a/src:pull"], "bob",
                "bob-pass")
    r = requests.post(f"{url}/v2/bob/dst/blobs/uploads/?mount={layer}&from=team-a/src",
                      headers=bearer(bob), timeout=10)
    assert r.status_code == 202, "without pull on the source the mount falls back to an upload"
    both = token(url, ["repository:team-a/dst:pull,push", "repository:team-a/src:pull"],
                 "alice", "alice-pass")
    r = requests.post(f"{url}/v2/team-a/dst/blobs/uploads/?mount={layer}&from=team-a/src",
                      headers=bearer(both), timeout=10)
    assert r.status_code == 201


def test_auth_turns_on_when_first_user_is_added(registry_factory, tmp_path):
    server = registry_factory()
    assert requests.get(f"{server.url}/v2/", timeout=10).status_code == 200
    add_user(server.data, "late", "late-pass")
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if requests.get(f"{server.url}/v2/", timeout=10).status_code == 401:
            return
        time.sleep(0.2)
    pytest.fail("auth did not turn on after the first user was added")


def test_non_loopback_listen_without_auth_is_refused(tmp_path):
    proc = subprocess.run([ocireg_binary(), "serve", "--listen", "0.0.0.0:1", "--data",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "without authentication" in proc.stderr


def test_logs_never_contain_passwords_or_tokens(auth_registry):
    url = auth_registry.url
    tok = token(url, ["repository:team-a/app:pull"], "alice", "alice-pass")
    requests.get(f"{url}/v2/team-a/app/tags/list", headers=bearer(tok), timeout=10)
    requests.get(f"{url}/token", auth=("alice", "secret-typo"), timeout=30)
    log = open(auth_registry.log_path).read()
    assert "alice-pass" not in log and "secret-typo" not in log and tok not in log
    assert tok.split(".")[2] not in log
    assert "auth: token principal=alice repository=team-a/app requested=pull granted=pull" in log


def test_user_cli_rejects_bad_input(tmp_path):
    data = str(tmp_path / "d")
    assert cli("user", "add", "anonymous", "--password-stdin", "--data", data, stdin="x\n",
               check=False).returncode != 0
    assert cli("user", "add", "ok", "--data", data, check=False).returncode != 0
    add_user(data, "ok", "pw")
    assert cli("user", "add", "ok", "--password-stdin", "--data", data, stdin="pw\n",
               check=False).returncode != 0
    assert cli("grant", "ok", "Bad/*", "pull", "--data", data, check=False).returncode != 0
    assert cli("grant", "ok", "a/*", "fly", "--data", data, check=False).returncode != 0
    assert cli("user", "list", "--json", "--data", data).stdout.strip() == '["ok"]'
    cli("user", "del", "ok", "--data", data)
    assert cli("user", "list", "--json", "--data", data).stdout.strip() == "[]"
    assert os.stat(os.path.join(data, "meta.db")).st_size > 0


def test_signing_key_is_generated_private(auth_registry):
    path = os.path.join(auth_registry.data, "keys", "token.pem")
    assert os.path.exists(path), "the signing key is generated on first start"
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_signing_key_is_made_at_first_use_without_auth(registry_factory, tmp_path):
    """Without auth the key is not needed to serve, so it is made by the first token."""
    reg = registry_factory(data_dir=tmp_path / "noauth")
    path = os.path.join(reg.data, "keys", "token.pem")
    assert not os.path.exists(path), "a registry without auth loads no key at start"
    r = requests.get(f"{reg.url}/token", params={"service": "ocireg"}, timeout=10)
    assert r.status_code == 200, r.text
    assert claims(r.json()["token"])["iss"] == "ocireg"
    assert os.stat(path).st_mode & 0o777 == 0o600
    r2 = requests.get(f"{reg.url}/token", params={"service": "ocireg"}, timeout=10)
    assert r2.status_code == 200 and r2.json()["token"] != r.json()["token"]


def test_unloadable_signing_key_is_a_json_500_not_a_crash(registry_factory, tmp_path):
    data = tmp_path / "badkey"
    os.makedirs(data / "keys" / "token.pem")  # a folder where the key file belongs
    reg = registry_factory(data_dir=data)
    r = requests.get(f"{reg.url}/token", params={"service": "ocireg"}, timeout=10)
    assert r.status_code == 500, r.text
    assert r.json()["errors"][0]["code"] == "UNKNOWN"
    assert requests.get(f"{reg.url}/v2/", timeout=10).status_code == 200
    assert "cannot load or create the token signing key" in reg.log()


@pytest.mark.parametrize("header", ["Basic ==", "Basic =", "Basic QUJD==", "Basic !!!",
                                    "Basic QVdTOg==", "Bearer ", "Bearer ==.==.=="])
def test_malformed_credentials_are_401_not_a_crash(auth_registry, header):
    """Regression (found by fuzzing): Basic '==' made base64 decoding return a huge length."""
    r = requests.get(f"{auth_registry.url}/v2/team-a/app/tags/list", timeout=10,
                     headers={"Authorization": header})
    assert r.status_code == 401
    assert requests.get(f"{auth_registry.url}/healthz", timeout=10).status_code == 200


def test_oauth_form_decodes_plus_and_percent(registry_factory, tmp_path):
    """Form fields: '+' is a space and %XX a byte, so a password with '+', '%', '&' and '='
    (encoded by the client) arrives intact; %00 is never decoded into a NUL."""
    data = tmp_path / "formdata"
    add_user(data, "formuser", "p+%&= x")
    server = registry_factory(data_dir=data)
    r = requests.post(f"{server.url}/token", timeout=30, data={
        "grant_type": "password", "username": "formuser", "password": "p+%&= x",
        "service": "ocireg", "scope": "repository:a/b:pull"})
    assert r.status_code == 200, r.text
    r = requests.post(f"{server.url}/token", timeout=30,
                      data="grant_type=password&username=formuser&password=p%00x&service=ocireg",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401
