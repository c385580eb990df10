"""storage/remote (the client for other registries) driven through tests/unit/remote_probe
against Debian's docker-registry (distribution, htpasswd Basic auth), an ocireg with users and
grants (Docker token auth), and small Python servers that stall, redirect or are absent."""
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from authutil import add_user, grant
from ocireg_harness import free_port, ocireg_binary
from upstreams import Distribution

PROBE = os.path.join(os.path.dirname(ocireg_binary()), "tests", "remote_probe")
PASSWORD = "s3cret-Pass-9f2"


def probe(*args, password=None, timeout=30):
    """Run the driver; a list of answers, each {name: value} (rc first)."""
    env = dict(os.environ)
    env.pop("REMOTE_PROBE_PASSWORD", None)
    if password is not None:
        env["REMOTE_PROBE_PASSWORD"] = password
    # REMOTE_PROBE_WRAPPER="valgrind -q --error-exitcode=3 --leak-check=full" checks memory.
    wrapper = os.environ.get("REMOTE_PROBE_WRAPPER", "").split()
    proc = subprocess.run([*wrapper, PROBE, *args], capture_output=True, text=True,
                          timeout=timeout * (4 if wrapper else 1), env=env)
    assert proc.returncode in (0, 1), f"remote_probe {args}: {proc.returncode} {proc.stderr}"
    answers = []
    for line in proc.stdout.splitlines():
        name, _, value = line.partition("=")
        if name == "rc":
            answers.append({})
        answers[-1][name] = value
    assert answers, f"remote_probe printed nothing: {proc.stdout!r} {proc.stderr!r}"
    return answers, proc.stdout + proc.stderr


def one(*args, **kw):
    answers, _ = probe(*args, **kw)
    return answers[-1]


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def distribution(tmp_path):
    """docker-registry with htpasswd (bcrypt) auth for user "dist"; yields its URL."""
    if not shutil.which("docker-registry") or not shutil.which("htpasswd"):
        pytest.skip("docker-registry and apache2-utils are test packages (scripts/deps.sh test)")
    dist = Distribution(tmp_path, ("dist", PASSWORD)).start()
    try:
        yield dist.url
    finally:
        dist.stop()


@pytest.fixture
def token_registry(registry_factory, tmp_path):
    data = tmp_path / "authdata"
    add_user(data, "alice", PASSWORD)
    grant(data, "alice", "team-a/*", "pull,push")
    return registry_factory(data_dir=data)


def upload(url, repo, data, tmp_path, *auth, stream=False, scope=None):
    """A monolithic upload through the client: POST, then PUT to the Location."""
    args = list(auth) + (["-s", scope] if scope else [])
    if stream:
        f = tmp_path / "blob.bin"
        f.write_bytes(data)
        args += ["-f", str(f)]
    else:
        args += ["-d", data.decode()]
    answers, out = probe(*args, "--upload", sha(data), url, "POST", f"/v2/{repo}/blobs/uploads/",
                         password=PASSWORD)
    return answers, out


def test_basic_auth_refused_anonymously_and_accepted_with_credentials(distribution):
    a = one(distribution, "GET", "/v2/")
    assert a["rc"] == "0" and a["status"] == "401", a
    a = one("-u", "dist", distribution, "GET", "/v2/", password=PASSWORD)
    assert a["rc"] == "0" and a["status"] == "200", a
    a = one("-u", "dist", distribution, "GET", "/v2/", password="wrong")
    assert a["status"] == "401", a


def test_upload_stream_and_head_on_distribution(distribution, tmp_path):
    data = os.urandom(300000)
    answers, out = upload(distribution, "lib/app", data, tmp_path, "-u", "dist", stream=True)
    assert [a["status"] for a in answers] == ["202", "201"], out
    assert answers[0]["location"].startswith("http://127.0.0.1:"), out
    assert answers[1]["digest"] == sha(data), out
    a = one("-u", "dist", "--stream", distribution, "GET", f"/v2/lib/app/blobs/{sha(data)}",
            password=PASSWORD)
    assert a["status"] == "200" and a["streamed"] == str(len(data)), a
    assert "sha256:" + a["sha256"] == sha(data) and a["body_len"] == "0", a
    cfg = b'{"architecture":"amd64","os":"linux"}'
    upload(distribution, "lib/app", cfg, tmp_path, "-u", "dist")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg),
                   "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(data),
                    "size": len(data)}]})
    a = one("-u", "dist", "-H", "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "-d", manifest, distribution, "PUT", "/v2/lib/app/manifests/v1", password=PASSWORD)
    assert a["status"] == "201", a
    a = one("-u", "dist", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
            distribution, "HEAD", "/v2/lib/app/manifests/v1", password=PASSWORD)
    assert a["status"] == "200" and a["digest"] == sha(manifest.encode()), a
    assert a["content_length"] == str(len(manifest)) and a["body_len"] == "0", a


def test_bearer_token_fetched_with_credentials_and_refused_anonymously(token_registry, tmp_path):
    url, scope = token_registry.url, "repository:team-a/app:pull,push"
    data = os.urandom(200000)
    answers, out = upload(url, "team-a/app", data, tmp_path, "-u", "alice", stream=True,
                          scope=scope)
    assert [a["status"] for a in answers] == ["202", "201"], out
    assert answers[1]["digest"] == sha(data), out
    blob = f"/v2/team-a/app/blobs/{sha(data)}"
    a = one(url, "GET", blob, "-s", "repository:team-a/app:pull")
    assert a["rc"] == "0" and a["status"] == "401", a  # an anonymous token grants nothing here
    a = one("-u", "alice", "--stream", "-s", "repository:team-a/app:pull", url, "GET", blob,
            password=PASSWORD)
    assert a["status"] == "200" and "sha256:" + a["sha256"] == sha(data), a
    answers, out = probe("-u", "alice", "--repeat", "2", "-s", "repository:team-a/app:pull",
                         url, "HEAD", blob, password=PASSWORD)
    assert [a["status"] for a in answers] == ["200", "200"], out
    assert all(a["digest"] == sha(data) for a in answers), out
    a = one("-u", "alice", "--threads", "4", "--repeat", "5", "-s", "repository:team-a/app:pull",
            url, "GET", blob, password=PASSWORD)
    assert a["threads_failed"] == "0" and a["status_200"] == "20", a  # one remote, four threads
    answers, out = probe("-u", "alice", url, "GET", blob, "-s", "repository:team-a/app:pull",
                         password="not-" + PASSWORD)
    assert answers[-1]["status"] == "401" and PASSWORD not in out, out


def test_max_body_cuts_kept_and_streamed_bodies(distribution, tmp_path):
    data = os.urandom(5000)
    upload(distribution, "lib/big", data, tmp_path, "-u", "dist", stream=True)
    blob = f"/v2/lib/big/blobs/{sha(data)}"
    for extra in ([], ["--stream"]):
        a = one("-u", "dist", "-m", "4096", *extra, distribution, "GET", blob, password=PASSWORD)
        assert a["rc"] == "-6" and "too large" in a["error"], a  # REG_ETOOLARGE
        a = one("-u", "dist", "-m", "5000", *extra, distribution, "GET", blob, password=PASSWORD)
        assert a["rc"] == "0" and a["status"] == "200", a


def test_stalled_server_is_cut_by_the_stall_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepted by the kernel, never answered
        port = listener.getsockname()[1]
        start = time.monotonic()
        a = one("--stall-ms", "1000", f"http://127.0.0.1:{port}", "GET", "/v2/", timeout=20)
        took = time.monotonic() - start
    assert a["rc"] == "-1" and "GET http://127.0.0.1" in a["error"], a
    assert took < 10, f"the stall timeout of 1 s took {took:.1f} s"


def test_total_timeout_cuts_a_silent_server_before_the_stall_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        start = time.monotonic()
        a = one("--total-ms", "500", f"http://127.0.0.1:{port}", "GET", "/v2/", timeout=20)
        took = time.monotonic() - start
    assert a["rc"] == "-1" and "timed out" in a["error"].lower(), a
    assert took < 5, f"the total timeout of 0.5 s took {took:.1f} s (the stall default is 30 s)"


def test_refused_connection_error_names_no_credentials():
    port = free_port()  # bound then closed: nothing listens
    answers, out = probe("-u", "someone", f"http://127.0.0.1:{port}", "GET", "/v2/x",
                         password=PASSWORD)
    a = answers[-1]
    assert a["rc"] == "-1" and f"127.0.0.1:{port}/v2/x" in a["error"], a
    assert PASSWORD not in out and "someone" not in out, out


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Origin: 401 Basic without credentials, 307 to the other host with them. Other host:
    records the Authorization header it got and answers the blob."""
    seen = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/v2/r/blobs/x":
            self.answer_authorized(307, "/blob?sig=1")
            return
        self.answer_blob()

    def do_HEAD(self):
        """/huge: 80 headers of 1 KiB each, over the client's 64 KiB bound."""
        self.send_response(200)
        for i in range(80 if self.path == "/huge" else 1):
            self.send_header(f"X-Filler-{i}", "f" * 1024)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def answer_authorized(self, status, path):
        """401 with a Basic challenge to a request without credentials, else `status` sending
        it to path on the other server."""
        if not self.headers.get("Authorization"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="t"')
        else:
            self.send_response(status)
            self.send_header("Location", f"http://localhost:{self.server.other}{path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self.answer_authorized(202, "/upload?s=1")

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.answer_blob()

    def answer_blob(self):
        _Recorder.seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"blob")


@pytest.fixture
def recorders():
    """Two _Recorder servers on threads: the origin, and the other host it points to."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    servers[0].other = servers[1].server_address[1]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield servers
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def test_headers_over_the_bound_are_refused(recorders):
    url = f"http://127.0.0.1:{recorders[0].server_address[1]}"
    a = one(url, "HEAD", "/small")
    assert a["rc"] == "0" and a["status"] == "200", a
    a = one(url, "HEAD", "/huge")
    assert a["rc"] == "-6" and "header bound" in a["error"], a  # REG_ETOOLARGE


def test_redirect_to_another_host_drops_the_credentials(recorders):
    origin = f"http://127.0.0.1:{recorders[0].server_address[1]}"
    _Recorder.seen.clear()
    a = one("-u", "u", origin, "GET", "/v2/r/blobs/x", password=PASSWORD)
    assert a["status"] == "200" and a["body"] == "blob", a
    assert _Recorder.seen == [None], _Recorder.seen
    # An upload Location on another host gets the PUT without the Basic credentials that
    # the POST needed (and that the client now sends up front to the registry).
    _Recorder.seen.clear()
    answers, out = probe("-u", "u", "-d", "abc", "--upload", "sha256:x", origin, "POST",
                         "/v2/r/blobs/uploads/", password=PASSWORD)
    assert [a["status"] for a in answers] == ["202", "200"], out
    assert _Recorder.seen == [None], _Recorder.seen


class _TokenRegistry(http.server.BaseHTTPRequestHandler):
    """A registry with Docker token auth in a few lines: /token records each request and hands
    out "tok-N" as `access_token`; /v2/x wants any token it handed out."""
    token_requests = []
    challenge_scope = None
    token_status = 200

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        cls = _TokenRegistry
        path, _, query = self.path.partition("?")
        if path == "/token":
            cls.token_requests.append((query, self.headers.get("Authorization")))
            body = json.dumps({"access_token": f"tok-{len(cls.token_requests)}",
                               "expires_in": 3600}).encode()
            return self.reply(cls.token_status, body if cls.token_status == 200 else b"{}")
        if (self.headers.get("Authorization") or "").startswith("Bearer tok-"):
            return self.reply(200, b"manifest")
        realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        scope = f',scope="{cls.challenge_scope}"' if cls.challenge_scope else ""
        self.reply(401, b"{}", [("WWW-Authenticate", f'Bearer realm="{realm}",service="svc"{scope}')])


@pytest.fixture
def token_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    _TokenRegistry.token_requests = []
    _TokenRegistry.challenge_scope = None
    _TokenRegistry.token_status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_token_is_fetched_once_per_scope_with_the_challenges_service(token_server):
    answers, out = probe("-u", "bob", "--repeat", "3", "-s", "repository:lib/a:pull",
                         token_server, "GET", "/v2/x", password=PASSWORD)
    assert [a["status"] for a in answers] == ["200"] * 3, out
    assert len(_TokenRegistry.token_requests) == 1, _TokenRegistry.token_requests
    query, authz = _TokenRegistry.token_requests[0]
    assert query == "service=svc&scope=repository%3Alib%2Fa%3Apull", query
    assert authz and authz.startswith("Basic "), authz  # the credentials go to the realm


def test_token_request_uses_the_challenges_scope_and_goes_anonymous_without_credentials(
        token_server):
    _TokenRegistry.challenge_scope = "repository:from/challenge:pull"
    a = one("-s", "repository:lib/a:pull", token_server, "GET", "/v2/x")
    assert a["status"] == "200", a
    [(query, authz)] = _TokenRegistry.token_requests
    assert query == "service=svc&scope=repository%3Afrom%2Fchallenge%3Apull" and authz is None


def test_a_refused_token_request_leaves_the_401(token_server):
    _TokenRegistry.token_status = 401
    answers, out = probe("-u", "bob", token_server, "GET", "/v2/x", password=PASSWORD)
    assert answers[-1]["rc"] == "0" and answers[-1]["status"] == "401", out
    assert len(_TokenRegistry.token_requests) == 1 and PASSWORD not in out, out
