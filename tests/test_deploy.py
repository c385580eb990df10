"""Running ocireg as a service: systemd's readiness (NOTIFY_SOCKET) and socket activation
(LISTEN_FDS, through Debian's systemd-socket-activate), reloads on SIGHUP (TLS certificate,
signing keys, settings) and restarts without a failed request (--reuse-port, draining)."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
import requests

from authutil import add_user, bearer, grant, self_signed, token
from ocireg_harness import free_port, ocireg_binary, wait_until
from regutil import OCI_MANIFEST, assert_pulls, image_manifest, push_image



class NotifyListener:
    """A NOTIFY_SOCKET as systemd has one: a datagram socket, abstract ('@name') or a path."""

    def __init__(self, tmp_path, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "ocireg-test-" + uuid.uuid4().hex
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = str(tmp_path / "notify.sock")
            self.sock.bind(self.address)

    def next(self, timeout=15):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


def start(args, tmp_path, env=None, name="serve"):
    log = open(tmp_path / f"{name}.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, **(env or {})))
    log.close()
    return proc


def serve(port, data, tmp_path, *args, env=None, name="serve"):
    """`ocireg serve` on 127.0.0.1:port with its data folder and the further arguments."""
    return start([ocireg_binary(), "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data),
                  *args], tmp_path, env, name)


def log_of(tmp_path, name="serve"):
    with open(tmp_path / f"{name}.log", "rb") as f:
        return f.read()[-4000:].decode(errors="replace")


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("abstract", [True, False], ids=["abstract", "path"])
def test_ready_is_sent_once_v2_answers_then_reloading_and_stopping(tmp_path, abstract):
    notify = NotifyListener(tmp_path, abstract)
    port = free_port()
    proc = serve(port, tmp_path / "data", tmp_path, env={"NOTIFY_SOCKET": notify.address})
    try:
        assert notify.next() == "READY=1"
        # No retry: the first connection after READY=1 must be answered.
        r = requests.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
        assert r.status_code == 200, "READY=1 came before /v2/ answered"
        proc.send_signal(signal.SIGHUP)
        reloading = notify.next()
        assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC="), reloading
        assert notify.next() == "READY=1", "a reload ends with READY=1"
        proc.send_signal(signal.SIGTERM)
        assert notify.next() == "STOPPING=1"
        assert proc.wait(20) == 0
    finally:
        stop(proc)
        notify.close()


def test_socket_activation_serves_pushes_and_pulls_on_the_passed_socket(tmp_path):
    port = free_port()
    notify = NotifyListener(tmp_path, True)
    # --listen names a port nobody listens on: every answer comes through the passed socket.
    proc = start(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-E", "NOTIFY_SOCKET",
                  ocireg_binary(), "serve", "--listen", f"127.0.0.1:{free_port()}", "--data",
                  str(tmp_path / "data")], tmp_path, {"NOTIFY_SOCKET": notify.address})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:  # systemd-socket-activate binds before it is polled for
            try:
                # The first connection starts ocireg, which then answers it on the passed socket.
                r = requests.get(url + "/v2/", timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log_of(tmp_path)
                time.sleep(0.05)
        assert r.status_code == 200
        assert notify.next() == "READY=1"
        img = push_image(url, "deploy/activated", "v1", layers=[os.urandom(100000), b"small"])
        assert_pulls(url, img)
        assert "serving on the socket systemd passed" in log_of(tmp_path)
        proc.send_signal(signal.SIGTERM)
        assert notify.next() == "STOPPING=1"
        assert proc.wait(20) == 0, log_of(tmp_path)
    finally:
        stop(proc)
        notify.close()


def test_socket_activation_on_a_public_address_without_auth_is_refused(tmp_path):
    """The loopback check looks at the passed socket, not at --listen's default."""
    port = free_port()
    proc = start(["systemd-socket-activate", "-l", f"0.0.0.0:{port}", ocireg_binary(), "serve",
                  "--data", str(tmp_path / "data")], tmp_path)
    try:
        deadline = time.monotonic() + 15
        while "refusing" not in log_of(tmp_path):
            assert time.monotonic() < deadline, log_of(tmp_path)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except OSError:
                pass
            time.sleep(0.1)
        assert "the socket systemd passed without authentication" in log_of(tmp_path)
    finally:
        stop(proc)


def test_socket_activation_with_two_sockets_is_refused(tmp_path):
    ports = [free_port(), free_port()]
    proc = start(["systemd-socket-activate", "-l", f"127.0.0.1:{ports[0]}", "-l",
                  f"127.0.0.1:{ports[1]}", ocireg_binary(), "serve", "--data",
                  str(tmp_path / "data")], tmp_path)
    try:
        wait_until(lambda: "Listening on" in log_of(tmp_path) and
                   log_of(tmp_path).count("Listening on") == 2, "both sockets")
        socket.create_connection(("127.0.0.1", ports[0]), timeout=5).close()
        assert proc.wait(20) != 0
        assert "socket activation passed 2 sockets; ocireg serves one" in log_of(tmp_path), \
            log_of(tmp_path)
    finally:
        stop(proc)


# ---- SIGHUP ----

def make_cert(folder, name):
    """A self-signed P-256 certificate for 127.0.0.1: (cert path, key path, DER bytes)."""
    cert, key = self_signed(folder, name, cn=name)
    return cert, key, ssl.PEM_cert_to_DER_cert(cert.read_text())


def unverified():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def served_cert(port):
    """The certificate a new TLS connection gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with unverified().wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True)


def replace_file(path, data):
    """As a renewal tool does: write beside, then rename over."""
    tmp = str(path) + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


@pytest.fixture
def tls_server(tmp_path):
    """ocireg over TLS with the certificate `one` in live.crt / live.key."""
    certs = tmp_path / "certs"
    certs.mkdir()
    one = make_cert(certs, "one")
    two = make_cert(certs, "two")
    live_cert, live_key = certs / "live.crt", certs / "live.key"
    replace_file(live_cert, one[0].read_bytes())
    replace_file(live_key, one[1].read_bytes())
    port = free_port()
    proc = serve(port, tmp_path / "data", tmp_path, "--tls-cert", str(live_cert), "--tls-key",
                 str(live_key))
    wait_until(lambda: proc.poll() is None and served_cert_or_none(port) == one[2],
               "the server to answer over TLS")
    yield proc, port, one, two, (live_cert, live_key)
    stop(proc)


def served_cert_or_none(port):
    try:
        return served_cert(port)
    except OSError:
        return None


def test_sighup_serves_a_renewed_certificate_while_an_upload_goes_on(tmp_path, tls_server):
    proc, port, one, two, (live_cert, live_key) = tls_server
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=unverified())
    conn.request("POST", "/v2/deploy/tls/blobs/uploads/")
    r = conn.getresponse()
    r.read()
    assert r.status == 202, r.status
    location = r.getheader("Location")
    body = os.urandom(3 << 20)
    threads = len(os.listdir(f"/proc/{proc.pid}/task"))
    # A PATCH whose body is half sent when the certificate changes.
    conn.putrequest("PATCH", location)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[:len(body) // 2])
    replace_file(live_cert, two[0].read_bytes())
    replace_file(live_key, two[1].read_bytes())
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: served_cert(port) == two[2], "new connections to get the new certificate")
    conn.send(body[len(body) // 2:])
    r = conn.getresponse()
    r.read()
    assert r.status == 202, f"the PATCH across the reload: expected 202, got {r.status}"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    conn.request("PUT", r.getheader("Location") + ("&" if "?" in r.getheader("Location")
                                                   else "?") + "digest=" + digest)
    r = conn.getresponse()
    r.read()
    assert r.status == 201, f"the upload's PUT: expected 201, got {r.status}"
    assert conn.sock.getpeercert(binary_form=True) == one[2], \
        "the upload must have stayed on its connection (made with the old certificate)"
    conn.close()
    wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) == threads,
               "the old certificate's daemon to stop once its last connection closed")
    got = requests.get(f"https://127.0.0.1:{port}/v2/deploy/tls/blobs/{digest}", verify=str(two[0]),
                       timeout=20)
    assert got.status_code == 200 and got.content == body
    assert "new connections get the certificate" in log_of(tmp_path)


def test_sighup_with_a_bad_certificate_keeps_the_old_one(tmp_path, tls_server):
    proc, port, one, two, (live_cert, live_key) = tls_server
    replace_file(live_cert, two[0].read_bytes())  # the key stays one's: they do not match
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "still serving the previous certificate" in log_of(tmp_path),
               "the reload to log its refusal")
    assert "is not the key of the certificate" in log_of(tmp_path), log_of(tmp_path)
    assert served_cert(port) == one[2]
    replace_file(live_cert, b"not a certificate\n")
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "holds no PEM certificate" in log_of(tmp_path), "the second refusal")
    assert served_cert(port) == one[2]
    assert proc.poll() is None


def test_sighup_after_key_rotate_signs_with_the_new_key(tmp_path):
    data = tmp_path / "data"
    add_user(data, "alice", "alice-pass")
    grant(data, "alice", "a/*", "pull")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(port, data, tmp_path)
    try:
        wait_until(lambda: served_or_none(url) == 401, "the server to answer")
        before = token(url, ["repository:a/b:pull"], "alice", "alice-pass")
        subprocess.run([ocireg_binary(), "key", "rotate", "--data", str(data)], check=True,
                       capture_output=True, timeout=30)
        assert jwt_kid(token(url, ["repository:a/b:pull"], "alice", "alice-pass")) == \
            jwt_kid(before), "before the reload the running server signs as before"
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "tokens are now signed by key" in log_of(tmp_path), "the key reload")
        after = token(url, ["repository:a/b:pull"], "alice", "alice-pass")
        assert jwt_kid(after) != jwt_kid(before)
        for tok in (before, after):  # tokens of the old key stay valid
            r = requests.get(f"{url}/v2/a/b/tags/list", headers=bearer(tok), timeout=10)
            assert r.status_code == 404, f"expected the token accepted (404), got {r.status_code}"
    finally:
        stop(proc)


def served_or_none(url):
    try:
        return requests.get(url + "/v2/", timeout=2).status_code
    except requests.ConnectionError:
        return None


def serve_answering(tmp_path, *args):
    """`ocireg serve` with the further arguments on a free port, once /v2/ answers 200:
    (process, port, URL)."""
    port = free_port()
    proc = serve(port, tmp_path / "data", tmp_path, *args)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: served_or_none(url) == 200, "the server to answer")
    except BaseException:
        stop(proc)
        raise
    return proc, port, url


def jwt_kid(jwt):
    head = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


def test_sighup_applies_safe_settings_and_names_the_others(tmp_path):
    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"access-log": True, "connection-timeout": 60}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([ocireg_binary(), "serve", "--config", str(config), "--listen",
                  f"127.0.0.1:{port}", "--data", str(tmp_path / "data")], tmp_path)
    try:
        wait_until(lambda: served_or_none(url) == 200, "the server to answer")
        requests.get(url + "/v2/_catalog?n=1", timeout=5)
        wait_until(lambda: '"path":"/v2/_catalog"' in log_of(tmp_path), "an access log line")
        config.write_text(json.dumps({"access-log": False, "connection-timeout": 90}))
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "--connection-timeout changed but needs a restart" in log_of(tmp_path),
                   "the reload to name the setting it cannot change")
        requests.get(url + "/v2/tags-after-reload", timeout=5)
        requests.get(url + "/v2/", timeout=5)
        time.sleep(0.2)
        assert "tags-after-reload" not in log_of(tmp_path), "access-log false must apply"
        assert "--access-log" not in log_of(tmp_path)
    finally:
        stop(proc)


# ---- restarts ----

class ServeProcess:
    """`ocireg serve --reuse-port` on a given port, ready once it sent READY=1."""

    def __init__(self, tmp_path, port, data, name):
        self.notify = NotifyListener(tmp_path, True)
        self.name = name
        self.tmp_path = tmp_path
        self.proc = serve(port, data, tmp_path, "--reuse-port", "--access-log", "false",
                          "--drain-timeout", "20s", env={"NOTIFY_SOCKET": self.notify.address},
                          name=name)

    def wait_ready(self):
        assert self.notify.next() == "READY=1", log_of(self.tmp_path, self.name)

    def stop(self):
        """SIGTERM; the process must end by itself, cleanly."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, log_of(self.tmp_path, self.name)
        self.notify.close()


def one_request(method, url, **kw):
    """A request on a connection of its own (a fresh session, closed after it), not retried:
    a refused or reset connection counts as a failure."""
    with requests.Session() as s:
        return s.request(method, url, timeout=20, **kw)


def client_loop(url, n, img, stop, results):
    """Pull img or push a small image, alternating by client, until stop is set, 30 s have
    passed or 400 rounds are done."""
    repo = f"deploy/client{n}"
    rounds = 0
    stop_at = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < stop_at and rounds < 400:
        rounds += 1
        try:
            if n % 2:
                r = one_request("GET", f"{url}/v2/{img.repo}/manifests/{img.tag}",
                                headers={"Accept": img.media_type})
                ok = r.status_code == 200 and r.content == img.manifest
                for d in img.blobs:
                    r = one_request("GET", f"{url}/v2/{img.repo}/blobs/{d}")
                    ok = ok and r.status_code == 200 and r.content == img.blobs[d]
            else:
                layer = os.urandom(2048)
                config = json.dumps({"client": n, "round": rounds}).encode()
                ok = True
                for blob in (layer, config):
                    d = "sha256:" + hashlib.sha256(blob).hexdigest()
                    r = one_request("POST", f"{url}/v2/{repo}/blobs/uploads/",
                                    params={"digest": d}, data=blob)
                    ok = ok and r.status_code == 201
                manifest = image_manifest(config, [layer])
                r = one_request("PUT", f"{url}/v2/{repo}/manifests/r{rounds}", data=manifest,
                                headers={"Content-Type": OCI_MANIFEST})
                ok = ok and r.status_code == 201
            results.append("ok" if ok else f"bad answer {r.status_code}")
        except requests.RequestException as e:
            results.append(f"{type(e).__name__}: {e}")


def test_restart_under_load_fails_no_request(tmp_path):
    """8 clients pull and push while the server is replaced twice: a new process starts on
    the port (SO_REUSEPORT), is ready (READY=1), then the old one gets SIGTERM and drains."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    old = ServeProcess(tmp_path, port, data, "first")
    old.wait_ready()
    img = push_image(url, "deploy/pulled", "v1", layers=[os.urandom(200000), b"small"])
    results = [[] for _ in range(8)]
    stop = threading.Event()
    clients = [threading.Thread(target=client_loop, args=(url, n, img, stop, results[n]))
               for n in range(8)]
    for c in clients:
        c.start()
    try:
        for name in ("second", "third"):
            time.sleep(1)
            new = ServeProcess(tmp_path, port, data, name)
            new.wait_ready()
            old.stop()
            old = new
        time.sleep(1)
    finally:
        stop.set()
        for c in clients:
            c.join(60)
        old.stop()
    done = [r for rs in results for r in rs]
    failed = [r for r in done if r != "ok"]
    assert len(done) >= 40, f"expected the clients to make progress, made {len(done)} rounds"
    assert not failed, f"{len(failed)} of {len(done)} rounds failed: {failed[:5]}"
    print(f"{len(done)} rounds, none failed")


def test_sigterm_lets_a_request_in_flight_finish_and_bounds_the_drain(tmp_path):
    proc, port, url = serve_answering(tmp_path, "--drain-timeout", "2s")
    try:
        idle = requests.Session()  # a kept-alive connection, idle at SIGTERM
        assert idle.get(url + "/v2/", timeout=5).status_code == 200
        body = os.urandom(1 << 20)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        finishing = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        stalled = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        for conn in (finishing, stalled):
            conn.putrequest("POST", f"/v2/deploy/drain/blobs/uploads/?digest={digest}")
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            conn.send(body[:1000])
        time.sleep(0.2)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: served_or_none(url) is None, "the listener to close")
        finishing.send(body[1000:])
        r = finishing.getresponse()
        assert r.status == 201, f"the request in flight at SIGTERM: expected 201, got {r.status}"
        assert r.getheader("Connection") == "close", "answers while draining close"
        assert proc.wait(20) == 0
        elapsed = time.monotonic() - stopping
        assert elapsed < 5, f"--drain-timeout 2s: the stalled request held the stop {elapsed} s"
        assert elapsed >= 1.5, "the stalled request was given its drain time"
        idle.close()
    finally:
        stop(proc)


def test_sigterm_does_not_wait_for_idle_keep_alive_connections(tmp_path):
    proc, port, url = serve_answering(tmp_path, "--drain-timeout", "20s")
    try:
        sessions = [requests.Session() for _ in range(4)]
        for s in sessions:
            assert s.get(url + "/v2/", timeout=5).status_code == 200
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        elapsed = time.monotonic() - stopping
        assert elapsed < 3, f"idle keep-alive connections held the stop for {elapsed:.1f} s"
        for s in sessions:
            s.close()
    finally:
        stop(proc)


# ---- meson install ----

def build_folder():
    """The meson build folder of the binary under test (./build by default)."""
    return os.path.dirname(os.path.abspath(ocireg_binary()))


def build_dirs():
    """The build's prefix and install folders, as meson introspect tells them."""
    proc = subprocess.run(["meson", "introspect", build_folder(), "--buildoptions"], capture_output=True,
                          text=True, timeout=60, check=True)
    options = {o["name"]: o["value"] for o in json.loads(proc.stdout)}
    prefix = options["prefix"]
    sysconf = options["sysconfdir"]
    return {"prefix": prefix,
            "bin": os.path.join(prefix, options["bindir"]),
            "man": os.path.join(prefix, options["mandir"]),
            "etc": sysconf if sysconf.startswith("/") else os.path.join(prefix, sysconf)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if not os.path.isdir(os.path.join(build_folder(), "meson-info")):
        pytest.skip("OCIREG_BIN is not in a meson build folder: nothing to install from")
    dest = tmp_path_factory.mktemp("destdir")
    proc = subprocess.run(["meson", "install", "-C", build_folder(), "--no-rebuild", "--destdir",
                           str(dest)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest, build_dirs()


def under(dest, path):
    return os.path.join(str(dest), path.lstrip("/"))


def unit_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def test_install_puts_every_file_in_its_place(installed):
    dest, d = installed
    units = os.path.join(d["prefix"], "lib/systemd/system")
    expected = [os.path.join(d["bin"], "ocireg"), os.path.join(d["man"], "man1/ocireg.1"),
                os.path.join(d["etc"], "ocireg/ocireg.json"),
                os.path.join(units, "ocireg.service"), os.path.join(units, "ocireg.socket"),
                os.path.join(d["prefix"], "lib/sysusers.d/ocireg.conf")]
    for path in expected:
        assert os.path.isfile(under(dest, path)), f"expected {path} in the DESTDIR tree"
    assert os.access(under(dest, expected[0]), os.X_OK)
    service = unit_lines(under(dest, expected[3]))
    assert f"ExecStart={d['bin']}/ocireg serve --config {d['etc']}/ocireg/ocireg.json" in service
    for line in ["Type=notify", "User=ocireg", "StateDirectory=ocireg", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "CapabilityBoundingSet=", "SystemCallFilter=@system-service",
                 "ExecReload=/bin/kill -HUP $MAINPID"]:
        assert line in service, f"expected {line} in ocireg.service"


def test_installed_units_pass_systemd_analyze_verify(installed, tmp_path):
    """The units as installed, with ExecStart pointing into the DESTDIR (the binary is not
    at its final path here); any warning counts."""
    dest, d = installed
    units = under(dest, os.path.join(d["prefix"], "lib/systemd/system"))
    for name in ("ocireg.service", "ocireg.socket"):
        with open(os.path.join(units, name)) as f:
            text = f.read().replace(f"{d['bin']}/ocireg", under(dest, f"{d['bin']}/ocireg"))
        (tmp_path / name).write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           str(tmp_path / "ocireg.service"), str(tmp_path / "ocireg.socket")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                           str(tmp_path / "ocireg.service")], capture_output=True, text=True,
                          timeout=60)
    level = re.search(r"Overall exposure level for ocireg.service: ([0-9.]+)", proc.stdout)
    assert level and float(level.group(1)) <= 2.0, \
        f"expected the unit's exposure at most 2.0 (systemd-analyze security): {proc.stdout[-800:]}"
    sysusers = under(dest, os.path.join(d["prefix"], "lib/sysusers.d/ocireg.conf"))
    proc = subprocess.run(["systemd-sysusers", "--dry-run", "--root", str(tmp_path), sysusers],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Creating user 'ocireg'" in proc.stderr + proc.stdout, \
        proc.stderr


def test_installed_man_page_documents_every_serve_setting(installed):
    dest, d = installed
    with open(under(dest, os.path.join(d["man"], "man1/ocireg.1"))) as f:
        page = f.read()
    proc = subprocess.run([ocireg_binary(), "serve", "--help"], capture_output=True, text=True,
                          timeout=30)
    names = re.findall(r"^  --([a-z0-9-]+)", proc.stdout, re.M)
    assert len(names) >= 20
    for name in names:
        assert f".B \\-\\-{name.replace('-', chr(92) + '-')}" in page, \
            f"--{name} is in serve --help but not in the man page"
    for section in (".SH SIGNALS", ".SH ADMINISTRATION COMMANDS", ".SS ocireg gc"):
        assert section in page
    top = subprocess.run([ocireg_binary(), "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    commands = re.findall(r"^  ([a-z]+) ", top.split("Commands:")[1].split("\n\n")[0], re.M)
    for cmd in set(commands) - {"serve", "revoke", "grants"}:  # the last two: grant's text
        assert f".SS ocireg {cmd}\n" in page, f"ocireg {cmd} has no section in the man page"
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_installed_example_settings_start_a_server(installed, tmp_path):
    """The example file is a valid --config (its listen and data are overridden by flags)."""
    dest, d = installed
    example = under(dest, os.path.join(d["etc"], "ocireg/ocireg.json"))
    port = free_port()
    proc = start([under(dest, os.path.join(d["bin"], "ocireg")), "serve", "--config", example,
                  "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "data")], tmp_path)
    try:
        wait_until(lambda: proc.poll() is not None or
                   served_or_none(f"http://127.0.0.1:{port}") == 200, "the server to answer")
        assert proc.poll() is None, log_of(tmp_path)
    finally:
        stop(proc)
