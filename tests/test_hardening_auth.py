"""Issue 17 (hardening), logins and credentials: the failed-login throttle cannot be reset by
other names, follows the forwarded client address behind a trusted proxy, does not lock a user
out of a clean address, and does not tell unknown names by timing; refresh tokens and ECR login
passwords die with the password (or the user) they were issued under."""
import base64
import hashlib
import statistics
import time

import pytest
import requests

from authutil import access_key, add_user, cli, grant

TOKEN_PARAMS = {"service": "ocireg"}


@pytest.fixture
def auth_data(tmp_path):
    data = tmp_path / "data"
    add_user(data, "alice", "alice-pass")
    add_user(data, "reader", "reader-pass")
    grant(data, "alice", "team/*", "pull")
    grant(data, "reader", "team/*", "pull")
    return data


def login(url, user, password, client=None, session=None):
    headers = {"X-Forwarded-For": client} if client else {}
    return (session or requests).get(f"{url}/token", params=TOKEN_PARAMS, auth=(user, password),
                                     headers=headers, timeout=30)


def slot_of_old_table(key):
    """The slot the unkeyed table of earlier versions chose (first 8 bytes of SHA-256, |1)."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") | 1
    return h % 4096


def colliding_name(key, prefix):
    target = slot_of_old_table(key)
    for i in range(1_000_000):
        name = f"{prefix}{i}"
        if slot_of_old_table("u:" + name) == target:
            return name
    raise AssertionError("no colliding name found")


def test_interleaved_names_do_not_reset_a_users_throttle(registry_factory, auth_data):
    url = registry_factory(data_dir=auth_data).url
    # names that landed in the same slot as the user's and the address's counters
    resetters = [colliding_name("u:reader", "x"), colliding_name("a:127.0.0.1", "y")]
    statuses = []
    for i in range(42):
        statuses.append(login(url, "reader", f"guess{i}").status_code)
        if statuses[-1] == 429:
            break
        if i % 4 == 3:
            for name in resetters:
                login(url, name, "whatever")
    assert 429 in statuses, f"42 wrong passwords interleaved with other names: {statuses}"
    assert statuses.index(429) == 10, f"expected 10 failures then 429, got {statuses}"
    r = login(url, "reader", "reader-pass")
    assert r.status_code == 429, "the guessing address waits, even with the right password"


def test_trusted_proxy_throttles_the_forwarded_client(registry_factory, auth_data):
    url = registry_factory(extra_args=["--trusted-proxy", "127.0.0.1"], data_dir=auth_data).url
    statuses = [login(url, f"nobody{i}", "bad", client="203.0.113.7").status_code
                for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429, statuses
    r = login(url, "alice", "alice-pass", client="198.51.100.2")
    assert r.status_code == 200, \
        f"one client's failures must not lock others out behind the proxy: {r.status_code}"
    # the walk stops at the rightmost address that is not a trusted proxy
    r = login(url, "alice", "alice-pass", client="10.0.0.9, 203.0.113.7, 127.0.0.1")
    assert r.status_code == 429, "the client behind a chain of trusted proxies is throttled"
    r = login(url, "alice", "alice-pass", client="203.0.113.7, 198.51.100.3")
    assert r.status_code == 200, "a client cannot pick the throttled address left of its own"


def test_unparsable_forwarded_hops_count_as_the_proxy(registry_factory, auth_data):
    url = registry_factory(extra_args=["--trusted-proxy", "127.0.0.1"], data_dir=auth_data).url
    hostile = ["not-an-address", "203.0.113.5:8080", "[2001:db8::1]", "203.0.113.5, ,junk",
               ", ".join(f"198.18.0.{i % 250}" for i in range(500)) + ", bogus"]
    for i in range(30):
        r = login(url, f"nobody{i}", "bad", client=hostile[i % len(hostile)])
        assert r.status_code == 401, f"{hostile[i % len(hostile)][:40]!r}: {r.status_code}"
    r = login(url, "alice", "alice-pass", client="still-not-an-address")
    assert r.status_code == 429, "hops that are no address must not give a fresh identity"
    r = login(url, "alice", "alice-pass", client="198.51.100.9")
    assert r.status_code == 200, r.status_code


def test_forwarded_address_from_untrusted_peer_is_ignored(registry_factory, auth_data):
    url = registry_factory(data_dir=auth_data).url
    for i in range(10):
        assert login(url, "reader", "bad", client=f"192.0.2.{i}").status_code == 401
    r = login(url, "reader", "reader-pass", client="192.0.2.200")
    assert r.status_code == 429, "X-Forwarded-For from a peer that is no trusted proxy counts"


def test_failures_from_other_addresses_do_not_refuse_a_clean_address(registry_factory,
                                                                      auth_data):
    url = registry_factory(extra_args=["--trusted-proxy", "127.0.0.1"], data_dir=auth_data).url
    for i in range(10):
        assert login(url, "reader", "bad", client=f"203.0.113.{i}").status_code == 401
    r = login(url, "reader", "reader-pass", client="198.51.100.1")
    assert r.status_code == 200, \
        f"10 guesses from 10 addresses locked the user out of a clean address: {r.status_code}"
    r = login(url, "reader", "reader-pass", client="203.0.113.4")
    assert r.status_code == 429, "a failing address waits while the user is under attack"


def test_unknown_user_takes_as_long_as_a_wrong_password(registry_factory, auth_data):
    url = registry_factory(data_dir=auth_data).url
    session = requests.Session()
    unknown, wrong = [], []
    for i in range(5):  # 10 failures: under every limit of one address, old and new
        start = time.monotonic()
        assert login(url, f"ghost{i}", "bad", session=session).status_code == 401
        unknown.append(time.monotonic() - start)
        start = time.monotonic()
        assert login(url, "reader", "bad", session=session).status_code == 401
        wrong.append(time.monotonic() - start)
    u, w = statistics.median(unknown), statistics.median(wrong)
    assert u >= 0.5 * w, f"unknown user answered in {u * 1e3:.1f} ms, wrong password in " \
                         f"{w * 1e3:.1f} ms: user names can be told apart by timing"


# ---- credentials die with what they were issued for ----

def refresh_token(url):
    r = requests.post(f"{url}/token", data={
        "grant_type": "password", "username": "alice", "password": "alice-pass",
        "service": "ocireg", "access_type": "offline", "client_id": "test"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["refresh_token"]


def refresh(url, tok):
    return requests.post(f"{url}/token", data={
        "grant_type": "refresh_token", "refresh_token": tok, "service": "ocireg",
        "scope": "repository:team/app:pull", "client_id": "test"}, timeout=30)


def ecr_login_password(url, data):
    import boto3
    key = access_key(data, "alice")
    ecr = boto3.client("ecr", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    out = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(out["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS"
    return password


def ecr_login_statuses(url, password):
    """(GET /v2/ with the login password, GET /token with it)."""
    v2 = requests.get(f"{url}/v2/team/app/tags/list", auth=("AWS", password), timeout=10)
    tok = requests.get(f"{url}/token", auth=("AWS", password), timeout=10,
                       params={"service": "ocireg", "scope": "repository:team/app:pull"})
    return v2.status_code, tok.status_code


def change_password(data):
    cli("user", "passwd", "alice", "--password-stdin", "--data", str(data), stdin="new-pass\n")


def delete_user(data):
    cli("user", "del", "alice", "--data", str(data))


def delete_and_add_again(data):
    delete_user(data)
    add_user(data, "alice", "alice-pass")
    grant(data, "alice", "team/*", "pull")


@pytest.mark.parametrize("change", [change_password, delete_user, delete_and_add_again],
                         ids=["passwd", "del", "del-and-add"])
def test_refresh_token_and_ecr_login_die_with_the_user(registry_factory, auth_data, change):
    url = registry_factory(data_dir=auth_data).url
    rt = refresh_token(url)
    password = ecr_login_password(url, auth_data)
    assert refresh(url, rt).status_code == 200
    assert ecr_login_statuses(url, password) == (404, 200), "valid before the change"
    change(auth_data)
    r = refresh(url, rt)
    assert r.status_code == 401 and r.json()["error"] == "invalid_grant", \
        f"refresh token issued before `{change.__name__}` still works: {r.status_code}"
    assert ecr_login_statuses(url, password) == (401, 401), \
        f"ECR login password issued before `{change.__name__}` still works"


def test_credentials_issued_after_a_password_change_work(registry_factory, auth_data):
    url = registry_factory(data_dir=auth_data).url
    change_password(auth_data)
    r = requests.post(f"{url}/token", data={
        "grant_type": "password", "username": "alice", "password": "new-pass",
        "service": "ocireg", "access_type": "offline", "client_id": "test"}, timeout=30)
    assert r.status_code == 200, r.text
    assert refresh(url, r.json()["refresh_token"]).status_code == 200
    assert ecr_login_statuses(url, ecr_login_password(url, auth_data)) == (404, 200)
