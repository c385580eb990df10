"""The pull-through cache (issue 20): rules from the command line and the ECR API, fills from
real upstreams on 127.0.0.1 (Debian's docker-registry with htpasswd, an ocireg with Docker token
auth) through requests and skopeo, bit-exact; faults from a small proxy in front of the
docker-registry (429, 503, a flipped byte) and an upstream that stops; one upstream GET for 16
clients of one blob; tags followed after their TTL and not before; the fill grant."""
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import socketserver
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from authutil import add_user, cli, grant, user_with_key
from ocireg_harness import RegistryServer
from regutil import OCI_INDEX, OCI_MANIFEST, digest_of, image_manifest
from upstreams import Distribution, wait_until

PASSWORD = "Upstream-s3cret-4c1"
TIMEOUT = 30
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}

pytestmark = pytest.mark.skipif(
    not shutil.which("docker-registry") or not shutil.which("htpasswd"),
    reason="docker-registry and apache2-utils are test packages (scripts/deps.sh test)")


# ---- upstreams ----

def push_blob(url, repo, data, session):
    """POST then PUT (distribution 2.8 takes no monolithic POST)."""
    r = session.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, f"upload start at {url}/{repo}: {r.status_code} {r.text}"
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else url + loc
    r = session.put(loc, params={"digest": digest_of(data)}, data=data,
                    headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    assert r.status_code == 201, f"upload of {digest_of(data)}: {r.status_code} {r.text}"
    return digest_of(data)


class Pushed:
    def __init__(self, manifest, blobs, media_type=OCI_MANIFEST):
        self.manifest = manifest
        self.digest = digest_of(manifest)
        self.blobs = blobs  # digest -> bytes
        self.media_type = media_type


def push(url, repo, tag, session, layers=(b"layer",)):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "test": [repo, tag, time.time()]}).encode()
    blobs = {}
    for data in (config, *layers):
        blobs[push_blob(url, repo, data, session)] = data
    manifest = image_manifest(config, layers)
    r = session.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest,
                    headers={"Content-Type": OCI_MANIFEST}, timeout=TIMEOUT)
    assert r.status_code == 201, f"manifest PUT {repo}:{tag}: {r.status_code} {r.text}"
    return Pushed(manifest, blobs)


def push_index(url, repo, tag, children, session):
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": c.digest, "size": len(c.manifest),
         "platform": {"architecture": arch, "os": "linux"}}
        for c, arch in zip(children, ("amd64", "arm64"))]}
    body = json.dumps(doc).encode()
    r = session.put(f"{url}/v2/{repo}/manifests/{tag}", data=body,
                    headers={"Content-Type": OCI_INDEX}, timeout=TIMEOUT)
    assert r.status_code == 201, f"index PUT {repo}:{tag}: {r.status_code} {r.text}"
    return Pushed(body, {}, OCI_INDEX)


class FaultProxy:
    """An HTTP proxy in front of an upstream whose `mode` says what it does to each request:
    "pass" forwards it, "429" and "503" answer that status, "flip" forwards it and flips one
    byte of every successful GET body (the length unchanged), "stall" sends half of such a body
    and then nothing, "trickle" sends it a byte every 0.2 s (both until `release` is set, at
    most 20 s)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.mode = "pass"
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                if proxy.mode in ("429", "503"):
                    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
                    self.send_response(int(proxy.mode))
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Retry-After", "30")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if proxy.mode == "flip" and self.command == "GET" and resp.status == 200 and data:
                    data = bytes([data[0] ^ 0x20]) + data[1:]
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                slow = proxy.mode in ("stall", "trickle") and self.command == "GET" and \
                    resp.status == 200
                if self.command == "HEAD":
                    pass
                elif slow and proxy.mode == "stall":
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    proxy.release.wait(20)
                    self.close_connection = True
                elif slow:
                    for i in range(len(data)):
                        if proxy.release.wait(0.2):
                            break
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                    self.close_connection = True
                else:
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = handle_one

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- the cache ----

def add_rule(data, prefix, url, *args, user=None):
    """`ocireg cache-rule add`, with user's password (PASSWORD) on standard input."""
    extra = ["--username", user, "--password-stdin"] if user else []
    cli("cache-rule", "add", prefix, url, *args, *extra, "--data", str(data),
        stdin=PASSWORD + "\n" if user else None)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Upstreams (docker-registry with htpasswd, a proxy in front of it, an ocireg with token
    auth) and a cache ocireg without users (filling is then allowed as pull is) with a rule for
    each."""
    root = tmp_path_factory.mktemp("pull-through")
    dist = Distribution(root / "dist", ("dist", PASSWORD)).start()
    proxy = FaultProxy(dist.port)
    tok_data = root / "tok"
    add_user(tok_data, "up", PASSWORD)
    grant(tok_data, "up", "lib/*", "pull,push")
    grant(tok_data, "up", "pub/*", "pull,push")
    grant(tok_data, "anonymous", "pub/*", "pull")
    tok = RegistryServer(tok_data).start()
    cache_data = root / "cache"
    add_rule(cache_data, "dist", dist.url, user="dist")
    add_rule(cache_data, "fast", dist.url, "--ttl", "2s", user="dist")
    add_rule(cache_data, "flaky", proxy.url, "--ttl", "1s", user="dist")
    add_rule(cache_data, "tok", tok.url, "--upstream-prefix", "lib", user="up")
    add_rule(cache_data, "anon", tok.url, "--upstream-prefix", "pub")
    cache = RegistryServer(cache_data, ["--upstream-stall-timeout", "1",
                                        "--upstream-min-rate", "4096"]).start()
    ns = type("Env", (), {})()
    ns.dist, ns.proxy, ns.tok, ns.cache, ns.cache_data, ns.root = \
        dist, proxy, tok, cache, cache_data, root
    try:
        yield ns
    finally:
        cache.stop()
        tok.stop()
        proxy.stop()
        dist.stop()


def get(url, path, **kw):
    return requests.get(url + path, timeout=TIMEOUT, **kw)


def pull(cache_url, repo, ref, pushed):
    """Pull the manifest and every blob through the cache; each must be bit-exact."""
    r = get(cache_url, f"/v2/{repo}/manifests/{ref}", headers=ACCEPT)
    assert r.status_code == 200, f"manifest {repo}:{ref}: {r.status_code} {r.text}"
    assert r.content == pushed.manifest, f"manifest {repo}:{ref} differs from the upstream's"
    assert r.headers["Docker-Content-Digest"] == pushed.digest
    for d, data in pushed.blobs.items():
        b = get(cache_url, f"/v2/{repo}/blobs/{d}")
        assert b.status_code == 200, f"blob {d} of {repo}: {b.status_code} {b.text}"
        assert hashlib.sha256(b.content).hexdigest() == d.split(":")[1], \
            f"blob {d} of {repo} came back with other bytes"


def stored_blobs(data):
    with sqlite3.connect(f"file:{data}/meta.db?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT digest FROM blobs")}


def metric(url, name):
    text = get(url, "/metrics").text
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return int(m.group(1))


# ---- fills ----

def test_pull_by_tag_fills_once_and_is_bit_exact(env):
    img = push(env.dist.url, "team/app", "v1", env.dist.session(),
               layers=(os.urandom(200000), b"small layer"))
    pull(env.cache.url, "dist/team/app", "v1", img)
    fetched = {d: env.dist.requests_for("GET", d) for d in img.blobs}
    assert all(n == 1 for n in fetched.values()), f"one upstream GET per blob: {fetched}"
    pull(env.cache.url, "dist/team/app", "v1", img)
    pull(env.cache.url, "dist/team/app", img.digest, img)
    again = {d: env.dist.requests_for("GET", d) for d in img.blobs}
    assert again == fetched, "a cached image must be served without the upstream"
    repos = get(env.cache.url, "/v2/_catalog").json()["repositories"]
    assert "dist/team/app" in repos, repos


def test_a_layer_held_for_another_repository_is_linked_not_fetched_again(env):
    base = os.urandom(50000)
    s = env.dist.session()
    a = push(env.dist.url, "shared/a", "v1", s, layers=(base, b"a's own"))
    b = push(env.dist.url, "shared/b", "v1", s, layers=(base, b"b's own"))
    pull(env.cache.url, "dist/shared/a", "v1", a)
    pull(env.cache.url, "dist/shared/b", "v1", b)
    assert env.dist.requests_for("GET", digest_of(base)) == 1, \
        "a layer the cache holds is linked into another cached repository, not fetched again"
    assert env.dist.requests_for("HEAD", f"shared/b/blobs/{digest_of(base)}") == 1, \
        "the upstream must confirm the repository has it"


def test_pull_of_an_unknown_tag_is_404_and_stores_nothing(env):
    r = get(env.cache.url, "/v2/dist/team/none/manifests/v9", headers=ACCEPT)
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN", r.text
    assert "dist/team/none" not in get(env.cache.url, "/v2/_catalog").json()["repositories"] \
        or get(env.cache.url, "/v2/dist/team/none/tags/list").json().get("tags") in (None, [])


def test_index_is_stored_and_children_are_filled_when_asked(env):
    s = env.dist.session()
    a = push(env.dist.url, "multi/app", "amd64", s, layers=(b"amd64 layer",))
    b = push(env.dist.url, "multi/app", "arm64", s, layers=(b"arm64 layer",))
    idx = push_index(env.dist.url, "multi/app", "v1", [a, b], s)
    r = get(env.cache.url, "/v2/dist/multi/app/manifests/v1", headers=ACCEPT)
    assert r.status_code == 200 and r.content == idx.manifest, r.text
    assert r.headers["Content-Type"] == OCI_INDEX
    assert env.dist.requests_for("GET", a.digest) == 0, "children are fetched when asked for"
    pull(env.cache.url, "dist/multi/app", a.digest, a)
    assert env.dist.requests_for("GET", a.digest) == 1


def test_token_upstream_through_skopeo_is_bit_exact(env, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is a test package")
    s = requests.Session()
    r = requests.get(f"{env.tok.url}/token", auth=("up", PASSWORD), timeout=TIMEOUT,
                     params={"service": "ocireg", "scope": "repository:lib/tool:pull,push"})
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    img = push(env.tok.url, "lib/tool", "1.0", s, layers=(os.urandom(300000),))
    out = tmp_path / "layout"
    proc = subprocess.run(["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false",
                           f"docker://{env.cache.host}/tok/tool:1.0", f"oci:{out}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for d, data in [(img.digest, img.manifest), *img.blobs.items()]:
        path = out / "blobs" / "sha256" / d.split(":")[1]
        assert path.read_bytes() == data, f"{d} differs after skopeo copy through the cache"


def test_anonymous_token_upstream(env):
    """No credentials in the rule: the upstream's anonymous Bearer token, as Docker Hub's."""
    r = requests.get(f"{env.tok.url}/token", auth=("up", PASSWORD), timeout=TIMEOUT,
                     params={"service": "ocireg", "scope": "repository:pub/tool:pull,push"})
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    img = push(env.tok.url, "pub/tool", "2.0", s)
    pull(env.cache.url, "anon/tool", "2.0", img)


def test_sixteen_clients_of_an_uncached_manifest_cause_one_upstream_get(env):
    img = push(env.dist.url, "crowd/tagged", "v1", env.dist.session())

    def one(_):
        r = get(env.cache.url, "/v2/dist/crowd/tagged/manifests/v1", headers=ACCEPT)
        return r.status_code, r.content
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    assert all(r == (200, img.manifest) for r in results), [r[0] for r in results]
    assert env.dist.requests_for("GET", "crowd/tagged/manifests/v1") == 1, \
        f"upstream GETs: {env.dist.requests_for('GET', 'crowd/tagged/manifests/v1')}"


def test_sixteen_clients_of_an_uncached_blob_cause_one_upstream_get(env):
    layer = os.urandom(8 << 20)
    img = push(env.dist.url, "crowd/app", "v1", env.dist.session(), layers=(layer,))
    d = digest_of(layer)
    r = get(env.cache.url, "/v2/dist/crowd/app/manifests/v1", headers=ACCEPT)
    assert r.status_code == 200, r.text

    def one(_):
        b = get(env.cache.url, f"/v2/dist/crowd/app/blobs/{d}")
        return b.status_code, hashlib.sha256(b.content).hexdigest()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    assert all(r == (200, d.split(":")[1]) for r in results), results
    assert env.dist.requests_for("GET", d) == 1, \
        f"upstream GETs of {d}: {env.dist.requests_for('GET', d)}, expected 1"
    assert img


def test_thirty_two_clients_of_an_uncached_image_cause_one_upstream_get_each(env):
    layers = tuple(os.urandom(n) for n in (3 << 20, 1 << 20, 300000))
    img = push(env.dist.url, "crowd/multi", "v1", env.dist.session(), layers=layers)
    barrier = threading.Barrier(32, timeout=TIMEOUT)

    def one(_):
        barrier.wait()
        r = get(env.cache.url, "/v2/dist/crowd/multi/manifests/v1", headers=ACCEPT)
        got = [r.status_code, r.content == img.manifest]
        for d in img.blobs:
            b = get(env.cache.url, f"/v2/dist/crowd/multi/blobs/{d}")
            got.append((b.status_code, digest_of(b.content) == d))
        return got
    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(32)))
    took = time.monotonic() - started
    want = [200, True] + [(200, True)] * len(img.blobs)
    assert all(r == want for r in results), [r for r in results if r != want][:3]
    assert took < 60, f"32 clients took {took:.1f} s"
    gets = env.dist.requests_for("GET", "crowd/multi/manifests/", status=200)
    assert gets == 1, f"upstream manifest GETs: {gets}, expected 1"
    for d in img.blobs:
        assert env.dist.requests_for("GET", d, status=200) == 1, \
            f"upstream GETs of {d}: {env.dist.requests_for('GET', d, status=200)}, expected 1"


def rss_peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])


def written_bytes(pid):
    """Bytes the process has passed to write-like calls on files (wchar; socket sends through
    send() are not counted)."""
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("wchar:")).split()[1])


def push_big_blob(dist, repo, size):
    """A blob of `size` bytes (a random MiB, each copy numbered) pushed in one PATCH streamed
    from a generator, so that the test holds no more than a MiB of it."""
    block = bytearray(os.urandom(1 << 20))
    h = hashlib.sha256()

    def body():
        for i in range(size >> 20):
            block[:8] = i.to_bytes(8, "big")
            h.update(block)
            yield bytes(block)
    s = dist.session()
    r = s.post(f"{dist.url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else dist.url + loc
    r = s.patch(loc, data=body(), headers={"Content-Type": "application/octet-stream"},
                timeout=300)
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else dist.url + loc
    d = "sha256:" + h.hexdigest()
    r = s.put(loc, params={"digest": d}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return d


@pytest.mark.parametrize("size", [
    256 << 20,  # four times the memory bound: a fill that buffered it would show
    pytest.param(2 << 30, marks=pytest.mark.slow)])
def test_a_big_blob_streams_through_in_flat_memory(env, size):
    d = push_big_blob(env.dist, f"big{size >> 20}/app", size)
    with open(f"/proc/{env.cache.proc.pid}/clear_refs", "w") as f:
        f.write("5")  # restart the peak-RSS count (VmHWM) at the current RSS
    written = written_bytes(env.cache.proc.pid)
    h = hashlib.sha256()
    got = 0
    with requests.get(f"{env.cache.url}/v2/dist/big{size >> 20}/app/blobs/{d}", stream=True,
                      timeout=TIMEOUT) as r:
        assert r.status_code == 200, r.text
        for chunk in r.iter_content(1 << 20):
            h.update(chunk)
            got += len(chunk)
    assert got == size and "sha256:" + h.hexdigest() == d, "the big blob came back with other bytes"
    peak = rss_peak_kib(env.cache.proc.pid)
    assert peak < 64 << 10, f"the cache's RSS peaked at {peak >> 10} MiB streaming {size >> 20} MiB"
    # The last byte goes out once the digest is verified; the durable commit follows.
    wait_until(lambda: d in stored_blobs(env.cache_data), "the big blob to be stored",
               deadline_s=60)
    # Each byte written once: the clients read the upload's own file, which becomes the blob.
    written = written_bytes(env.cache.proc.pid) - written
    assert written < size * 1.25, \
        f"the fill wrote {written >> 20} MiB for a blob of {size >> 20} MiB"


def checked_at(data, repo, tag):
    """When the cache last checked the tag upstream (whole seconds), from its index."""
    with sqlite3.connect(f"file:{data}/meta.db?mode=ro", uri=True) as db:
        row = db.execute("SELECT checked_at FROM cache_tag_checks WHERE repo = ? AND tag = ?",
                         (repo, tag)).fetchone()
    assert row, f"no check of {repo}:{tag} recorded"
    return row[0]


def test_moved_tag_is_followed_after_the_ttl_and_not_before(env):
    ttl = 2  # the "fast" rule's
    s = env.dist.session()
    first = push(env.dist.url, "moving/app", "latest", s, layers=(b"first",))
    r = get(env.cache.url, "/v2/fast/moving/app/manifests/latest", headers=ACCEPT)
    assert r.headers["Docker-Content-Digest"] == first.digest
    checked = checked_at(env.cache_data, "fast/moving/app", "latest")
    second = push(env.dist.url, "moving/app", "latest", s, layers=(b"second",))
    heads = env.dist.requests_for("HEAD", "moving/app/manifests/latest")
    r = get(env.cache.url, "/v2/fast/moving/app/manifests/latest", headers=ACCEPT)
    if int(time.time()) - checked < ttl:  # surely within the TTL (else the machine was slow)
        assert r.headers["Docker-Content-Digest"] == first.digest, "followed before the TTL"
        assert env.dist.requests_for("HEAD", "moving/app/manifests/latest") == heads, \
            "the upstream was asked before the TTL"
    # time() in C reads the coarse clock, a few milliseconds behind Python's: a margin.
    wait_until(lambda: time.time() >= checked + ttl + 0.1, "the TTL to pass", deadline_s=10)
    r = get(env.cache.url, "/v2/fast/moving/app/manifests/latest", headers=ACCEPT)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == second.digest, \
        "the moved tag was not followed after its TTL: " + \
        "".join(line for line in env.cache.log().splitlines(True) if "moving" in line)[-2000:]
    assert r.content == second.manifest
    assert env.dist.requests_for("HEAD", "moving/app/manifests/latest") == heads + 1, \
        "a tag past its TTL is checked with one HEAD"


# ---- faults ----

def test_stopped_upstream_serves_the_cached_copy_and_fails_uncached_cleanly(env, tmp_path):
    up = Distribution(tmp_path / "gone", None).start()
    try:
        cached = push(up.url, "app", "v1", up.session(), layers=(b"cached layer",))
        uncached = push(up.url, "other", "v1", up.session(), layers=(b"uncached layer",))
        cli("cache-rule", "add", "gone", up.url, "--ttl", "1s", "--data", str(env.cache_data))
        pull(env.cache.url, "gone/app", "v1", cached)
    finally:
        up.stop()
    stale = metric(env.cache.url, "ocireg_pullthrough_stale_served_total")
    time.sleep(1.1)
    pull(env.cache.url, "gone/app", "v1", cached)
    pull(env.cache.url, "gone/app", cached.digest, cached)
    assert metric(env.cache.url, "ocireg_pullthrough_stale_served_total") == stale + 1
    assert "serving the cached gone/app:v1" in env.cache.log()
    r = get(env.cache.url, "/v2/gone/other/manifests/v1", headers=ACCEPT)
    assert r.status_code == 502 and r.json()["errors"][0]["message"], r.text
    r = get(env.cache.url, f"/v2/gone/other/blobs/{next(iter(uncached.blobs))}")
    assert r.status_code == 502 and r.json()["errors"], r.text
    assert not set(uncached.blobs) & stored_blobs(env.cache_data)


@pytest.mark.parametrize("status", ["429", "503"])
def test_refusing_upstream_serves_the_cached_copy_and_fails_uncached_cleanly(env, status):
    s = env.dist.session()
    cached = push(env.dist.url, f"refuse{status}/app", "v1", s, layers=(os.urandom(1000),))
    uncached = push(env.dist.url, f"refuse{status}/other", "v1", s, layers=(os.urandom(1000),))
    pull(env.cache.url, f"flaky/refuse{status}/app", "v1", cached)
    env.proxy.mode = status
    try:
        time.sleep(1.1)  # past the rule's TTL: the tag is checked again, and refused
        pull(env.cache.url, f"flaky/refuse{status}/app", "v1", cached)
        r = get(env.cache.url, f"/v2/flaky/refuse{status}/other/manifests/v1", headers=ACCEPT)
        assert r.status_code == 502 and status in r.json()["errors"][0]["message"], r.text
        layer = [d for d in uncached.blobs if d not in stored_blobs(env.cache_data)][0]
        r = get(env.cache.url, f"/v2/flaky/refuse{status}/other/blobs/{layer}")
        assert r.status_code == 502, r.text
    finally:
        env.proxy.mode = "pass"
    assert not set(uncached.blobs) & stored_blobs(env.cache_data)


def test_a_flipped_byte_is_never_stored(env):
    s = env.dist.session()
    img = push(env.dist.url, "flip/app", "v1", s, layers=(os.urandom(100000),))
    r = get(env.cache.url, "/v2/flaky/flip/app/manifests/v1", headers=ACCEPT)
    assert r.status_code == 200, r.text
    layer = img.blobs and [d for d in img.blobs if len(img.blobs[d]) == 100000][0]
    env.proxy.mode = "flip"
    try:
        try:
            b = get(env.cache.url, f"/v2/flaky/flip/app/blobs/{layer}")
            got = b.content
            ok = b.status_code == 200 and hashlib.sha256(got).hexdigest() == layer.split(":")[1]
        except requests.RequestException:
            ok = False
        assert not ok, "a blob with a flipped byte was served whole"
        other = push(env.dist.url, "flip/other", "v1", s)
        r = get(env.cache.url, "/v2/flaky/flip/other/manifests/v1", headers=ACCEPT)
        assert r.status_code == 502, r.text
    finally:
        env.proxy.mode = "pass"
    wait_until(lambda: metric(env.cache.url, "ocireg_pullthrough_upstream_failures_total") > 0,
               "the failure in /metrics")
    assert layer not in stored_blobs(env.cache_data)
    assert other.digest not in stored_blobs(env.cache_data)
    b = get(env.cache.url, f"/v2/flaky/flip/app/blobs/{layer}")
    assert b.status_code == 200 and digest_of(b.content) == layer, "refilled after the fault"


@pytest.mark.parametrize("mode", ["stall", "trickle"])
def test_a_stalling_or_trickling_upstream_is_cut_off(env, mode):
    img = push(env.dist.url, f"{mode}/app", "v1", env.dist.session(),
               layers=(os.urandom(64 << 10),))
    layer = [d for d, data in img.blobs.items() if len(data) == 64 << 10][0]
    r = get(env.cache.url, f"/v2/flaky/{mode}/app/manifests/v1", headers=ACCEPT)
    assert r.status_code == 200, r.text
    env.proxy.release.clear()
    env.proxy.mode = mode
    started = time.monotonic()
    try:
        try:
            b = get(env.cache.url, f"/v2/flaky/{mode}/app/blobs/{layer}")
            whole = b.status_code == 200 and digest_of(b.content) == layer
        except requests.RequestException:
            whole = False
        took = time.monotonic() - started
    finally:
        env.proxy.mode = "pass"
        env.proxy.release.set()
    print(f"{mode}: cut after {took:.2f} s")
    assert not whole, f"a {mode}ing upstream's blob was served whole"
    # A stall is cut within the stall timeout plus curl's speed window (about 5 s).
    assert took < 12, f"the {mode}ing upstream was cut off only after {took:.1f} s"
    assert layer not in stored_blobs(env.cache_data)
    b = get(env.cache.url, f"/v2/flaky/{mode}/app/blobs/{layer}")
    assert b.status_code == 200 and digest_of(b.content) == layer


@pytest.mark.parametrize("mode", ["stall", "trickle", "flip"])
def test_a_cached_image_pulls_while_the_upstream_stalls_trickles_or_flips(env, mode):
    """The tag check (a HEAD) passes the proxy whole; what is cached is served, fast. An
    uncached image meanwhile fails cleanly and nothing of it is stored (its manifest here for a
    flip; its blobs for a stall or a trickle in test_a_stalling_or_trickling_upstream_is_cut_off,
    which take the stall timeout each)."""
    s = env.dist.session()
    cached = push(env.dist.url, f"cached{mode}/app", "v1", s, layers=(os.urandom(50000),))
    uncached = push(env.dist.url, f"cached{mode}/other", "v1", s, layers=(os.urandom(50000),))
    pull(env.cache.url, f"flaky/cached{mode}/app", "v1", cached)
    env.proxy.release.clear()
    env.proxy.mode = mode
    try:
        time.sleep(1.1)  # past the rule's TTL: the tag is checked again
        started = time.monotonic()
        pull(env.cache.url, f"flaky/cached{mode}/app", "v1", cached)
        pull(env.cache.url, f"flaky/cached{mode}/app", cached.digest, cached)
        took = time.monotonic() - started
        if mode == "flip":
            r = get(env.cache.url, f"/v2/flaky/cached{mode}/other/manifests/v1", headers=ACCEPT)
            assert r.status_code == 502 and r.json()["errors"][0]["message"], r.text
    finally:
        env.proxy.mode = "pass"
        env.proxy.release.set()
    assert took < 5, f"the cached image took {took:.1f} s while the upstream {mode}ed"
    assert not set(uncached.blobs) & stored_blobs(env.cache_data)
    assert uncached.digest not in stored_blobs(env.cache_data)


def test_a_stalled_fill_does_not_hold_the_server(env, tmp_path):
    """One server thread, a client waiting on a stalled upstream: other requests are still
    answered at once."""
    data = tmp_path / "onethread"
    add_rule(data, "flaky", env.proxy.url, user="dist")
    server = RegistryServer(data, ["--threads", "1", "--upstream-stall-timeout", "5"]).start()
    img = push(env.dist.url, "held/app", "v1", env.dist.session(), layers=(os.urandom(64 << 10),))
    layer = [d for d, data in img.blobs.items() if len(data) == 64 << 10][0]
    env.proxy.release.clear()
    env.proxy.mode = "stall"
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = [pool.submit(lambda: get(server.url, f"/v2/flaky/held/app/blobs/{layer}"))]
            wait_until(lambda: env.dist.requests_for("GET", layer) >= 1,
                       "the fill to reach the upstream", deadline_s=10)
            time.sleep(0.2)  # let the client's request wait on the stalled fill
            started = time.monotonic()
            r = get(server.url, "/healthz")
            took = time.monotonic() - started
            env.proxy.release.set()
            for w in waiting:
                try:
                    w.result()
                except requests.RequestException:
                    pass
    finally:
        env.proxy.mode = "pass"
        env.proxy.release.set()
        server.stop()
    assert r.status_code == 200
    assert took < 3, f"/healthz took {took:.1f} s while a fill stalled (5 s stall timeout)"


# ---- grants, rules ----

def test_filling_needs_its_own_grant(env, tmp_path):
    data = tmp_path / "authcache"
    add_user(data, "reader", PASSWORD)
    add_user(data, "filler", PASSWORD)
    grant(data, "reader", "*", "pull")
    grant(data, "filler", "*", "pull,pull-through")
    add_rule(data, "dist", env.dist.url, user="dist")
    img = push(env.dist.url, "granted/app", "v1", env.dist.session())
    server = RegistryServer(data).start()
    try:
        def pull_as(user):
            """The manifest GET with a token of `user` (no connection left open)."""
            r = requests.get(f"{server.url}/token", auth=(user, PASSWORD), timeout=TIMEOUT,
                             params={"service": "ocireg",
                                     "scope": "repository:dist/granted/app:pull"})
            return requests.get(f"{server.url}/v2/dist/granted/app/manifests/v1",
                                headers={**ACCEPT, "Authorization": "Bearer " + r.json()["token"]},
                                timeout=TIMEOUT)
        r = pull_as("reader")
        assert r.status_code == 404, f"pull alone must not fill: {r.status_code} {r.text}"
        assert env.dist.requests_for("GET", "granted/app/manifests") == 0
        r = pull_as("filler")
        assert r.status_code == 200 and r.content == img.manifest, r.text
        r = pull_as("reader")
        assert r.status_code == 200, "what is cached is read with pull alone"
    finally:
        server.stop()


def test_cli_rules_never_show_the_password(env):
    out = cli("cache-rule", "list", "--data", str(env.cache_data)).stdout
    listed = cli("cache-rule", "list", "--json", "--data", str(env.cache_data)).stdout
    rules = {r["prefix"]: r for r in json.loads(listed)}
    assert rules["dist"]["upstreamUrl"] == env.dist.url and rules["dist"]["hasPassword"]
    assert rules["tok"]["upstreamPrefix"] == "lib" and rules["fast"]["ttlSeconds"] == 2
    assert PASSWORD not in out and PASSWORD not in listed
    assert PASSWORD.encode() not in (env.cache_data / "meta.db").read_bytes()
    assert PASSWORD not in env.cache.log()
    bad = cli("cache-rule", "add", "Bad!", env.dist.url, "--data", str(env.cache_data),
              check=False)
    assert bad.returncode != 0 and "prefix" in bad.stderr
    dup = cli("cache-rule", "add", "dist", env.dist.url, "--data", str(env.cache_data),
              check=False)
    assert dup.returncode != 0 and "exists" in dup.stderr
    missing = cli("cache-rule", "delete", "nosuch", "--data", str(env.cache_data), check=False)
    assert missing.returncode != 0


def test_ecr_api_creates_describes_and_deletes_rules(tmp_path):
    boto3 = pytest.importorskip("boto3")
    import botocore.config
    data = tmp_path / "ecr"
    key = user_with_key(data, "admin", PASSWORD, "*")
    server = RegistryServer(data).start()
    try:
        ecr = boto3.client("ecr", endpoint_url=server.url, region_name="us-east-1",
                           aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"],
                           config=botocore.config.Config(retries={"total_max_attempts": 1}))
        made = ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public",
                                                  upstreamRegistryUrl="public.ecr.aws")
        assert made["upstreamRegistryUrl"] == "https://public.ecr.aws"
        with pytest.raises(ecr.exceptions.PullThroughCacheRuleAlreadyExistsException):
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public",
                                               upstreamRegistryUrl="quay.io")
        with pytest.raises(ecr.exceptions.UnsupportedUpstreamRegistryException):
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ftp",
                                               upstreamRegistryUrl="ftp://quay.io")
        with pytest.raises(ecr.exceptions.InvalidParameterException):
            boto3.client("ecr", endpoint_url=server.url, region_name="us-east-1",
                         aws_access_key_id=key["AccessKeyId"],
                         aws_secret_access_key=key["SecretAccessKey"],
                         config=botocore.config.Config(parameter_validation=False)) \
                .create_pull_through_cache_rule(ecrRepositoryPrefix="a" * 21,
                                                upstreamRegistryUrl="quay.io")
        for i in range(49):
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=f"r{i:02d}",
                                               upstreamRegistryUrl="quay.io")
        with pytest.raises(ecr.exceptions.LimitExceededException):
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="one-more",
                                               upstreamRegistryUrl="quay.io")
        rules = ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["ecr-public"])
        assert [r["ecrRepositoryPrefix"] for r in rules["pullThroughCacheRules"]] == ["ecr-public"]
        page = ecr.describe_pull_through_cache_rules(maxResults=20)
        assert len(page["pullThroughCacheRules"]) == 20 and page["nextToken"]
        listed = json.loads(cli("cache-rule", "list", "--json", "--data", str(data)).stdout)
        assert len(listed) == 50
        gone = ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public")
        assert gone["ecrRepositoryPrefix"] == "ecr-public"
        with pytest.raises(ecr.exceptions.PullThroughCacheRuleNotFoundException):
            ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public")
        with pytest.raises(ecr.exceptions.PullThroughCacheRuleNotFoundException):
            ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["ecr-public"])
        getattr(ecr, "close", lambda: None)()  # no keep-alive connection to wait for
    finally:
        server.stop()
