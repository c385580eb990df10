"""Real storage engines for tests: PostgreSQL, and a one-node Ceph cluster with radosgw (S3).

Each engine keeps all its state, sockets and logs in its own workdir, listens on 127.0.0.1 only
(free ports), runs its daemons as our children in their own sessions, and is stopped by PID.
Stdlib only; import as `from tests.engines import Postgres, CephRGW` (repo root on sys.path).
"""
import datetime
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

PG_BIN = "/usr/lib/postgresql/15/bin"
STEP_TIMEOUT = 60  # seconds for each startup step
RGW_POOLS = (".rgw.root", "default.rgw.log", "default.rgw.control", "default.rgw.meta",
             "default.rgw.buckets.index", "default.rgw.buckets.data",
             "default.rgw.buckets.non-ec")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path, size=3000):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return f.read().decode(errors="replace")
    except OSError as e:
        return f"(no log: {e})"


def require_binaries(*paths):
    missing = [p for p in paths if shutil.which(p) is None]
    if missing:
        raise RuntimeError(f"engine binaries missing: {', '.join(missing)} (Debian packages: "
                           "postgresql, ceph-mon ceph-osd radosgw ceph-common)")


def socket_dir(workdir):
    """A directory for unix sockets: inside workdir unless that path is too long for sun_path."""
    path = os.path.join(workdir, "sock")
    if len(path) > 80:
        path = tempfile.mkdtemp(prefix="ocireg-sock-")
    os.makedirs(path, exist_ok=True)
    return path


def spawn(argv, log_path, env=None):
    """Start a daemon as our child in its own session, output to log_path (never our stdout)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Signal one child we started, wait for it, then SIGKILL its process group if need be."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
        proc.wait(timeout)


def wait_until(check, what, proc, log_path, timeout=STEP_TIMEOUT, interval=0.05):
    """Poll check() until it returns a true value; fail with the log tail if proc dies or time
    runs out."""
    deadline = time.monotonic() + timeout
    while True:
        for p in proc if isinstance(proc, list) else [proc]:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: process {p.pid} exited with {p.returncode}:\n"
                                   + log_tail(log_path))
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout}s:\n" + log_tail(log_path))
        time.sleep(interval)


def run(argv, timeout=STEP_TIMEOUT, **kw):
    """Run a command to completion; raise with its output when it fails."""
    r = subprocess.run(argv, stdin=kw.pop("stdin", subprocess.DEVNULL), capture_output=True,
                       text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


class Postgres:
    """One PostgreSQL 15 server (trust auth on 127.0.0.1) with database "ocireg"."""

    USER = "postgres"

    def __init__(self, workdir):
        self.workdir = os.path.abspath(str(workdir))
        self.port = None
        self.url = None
        self.pid = None
        self.proc = None
        self.sockdir = None
        self.own_dir = None
        self.log_path = os.path.join(self.workdir, "postgres.log")
        self.started_seconds = None

    def _server_ids(self):
        try:
            return pwd.getpwnam("postgres")[2:4]
        except KeyError:
            return 65534, 65534

    def _as_server_user(self, argv):
        """PostgreSQL refuses to run as root. As root, run it in a user namespace where we are
        the postgres uid (files stay root's on disk, so any workdir is reachable); where user
        namespaces are not allowed, really switch to that uid (setpriv) and keep the data in
        a folder of its own (self.own_dir)."""
        if os.geteuid() != 0:
            return argv
        uid, gid = self._server_ids()
        if self.own_dir:
            return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"] + argv
        return ["unshare", "--user", f"--map-user={uid}", f"--map-group={gid}"] + argv

    def _data_root(self):
        """Where pgdata and the socket go: the workdir, or (root without user namespaces) a
        temp folder owned by the server's uid."""
        self.own_dir = None
        if os.geteuid() == 0 and subprocess.run(["unshare", "--user", "true"],
                                                capture_output=True).returncode != 0:
            self.own_dir = tempfile.mkdtemp(prefix="ocireg-pg-")
            os.chown(self.own_dir, *self._server_ids())
            return self.own_dir
        return self.workdir

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        require_binaries(f"{PG_BIN}/initdb", f"{PG_BIN}/postgres", "psql", "unshare", "setpriv")
        t0 = time.monotonic()
        os.makedirs(self.workdir, exist_ok=True)
        root = self._data_root()
        data = os.path.join(root, "pgdata")
        self.sockdir = socket_dir(root)
        if self.own_dir:
            os.chown(self.sockdir, *self._server_ids())
        run(self._as_server_user([f"{PG_BIN}/initdb", "-D", data, "-U", self.USER,
                                  "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
            env=dict(os.environ, LC_ALL="C"))
        self.port = free_port()
        self.proc = spawn(self._as_server_user([
            f"{PG_BIN}/postgres", "-D", data, "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sockdir}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
            self.log_path)
        self.pid = self.proc.pid  # unshare execs postgres: this is the postmaster
        base = f"postgres://{self.USER}@127.0.0.1:{self.port}"
        wait_until(lambda: subprocess.run(
            ["psql", base + "/postgres", "-XAtqc", "SELECT 1"], capture_output=True,
            stdin=subprocess.DEVNULL, timeout=10).returncode == 0,
            "postgres accepting connections", self.proc, self.log_path)
        self.url = self.new_database("ocireg")
        self.started_seconds = time.monotonic() - t0
        return self

    def new_database(self, name):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits, _")
        base = f"postgres://{self.USER}@127.0.0.1:{self.port}"
        run(["psql", base + "/postgres", "-XAtqc", f'CREATE DATABASE "{name}"'])
        return f"{base}/{name}"

    def stop(self):
        stop_process(self.proc, signal.SIGINT)  # SIGINT = fast shutdown
        if self.sockdir and not self.sockdir.startswith(self.workdir):
            shutil.rmtree(self.sockdir, ignore_errors=True)
        if self.own_dir:
            shutil.rmtree(self.own_dir, ignore_errors=True)


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_request(method, url, access_key, secret_key, region, body=b"", headers=None,
                  timeout=30):
    """One S3 request signed with AWS Signature V4; returns (status, headers, body)."""
    parsed = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    hdrs = {"host": parsed.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    query = "&".join(sorted(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)))
    signed = ";".join(sorted(hdrs))
    canonical = "\n".join([method, urllib.parse.quote(parsed.path or "/", safe="/-_.~"), query]
                          + [f"{k}:{hdrs[k].strip()}" for k in sorted(hdrs)]
                          + ["", signed, payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + secret_key).encode(), day), region), "s3"),
                "aws4_request")
    hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                             f"SignedHeaders={signed}, Signature="
                             + hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())
    del hdrs["host"]
    req = urllib.request.Request(url, data=body if body else None, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class CephRGW:
    """A one-mon, one-OSD (memstore) Ceph cluster with radosgw on 127.0.0.1, auth off."""

    REGION = "default"  # the default zonegroup's api_name; RGW also verifies any region string
    # s3:// parameters ocireg needs here: radosgw 16 refuses SSE-S3 without TLS and a key, and
    # cannot server-side copy an encrypted object at all (Ceph 18 can), so no SSE.
    OCIREG_PARAMS = "&sse=0"

    def __init__(self, workdir, memstore_bytes=4 << 30):
        self.memstore_bytes = memstore_bytes  # the OSD keeps all data in RAM (about twice)
        self.workdir = os.path.abspath(str(workdir))
        self.conf = os.path.join(self.workdir, "ceph.conf")
        self.logdir = os.path.join(self.workdir, "log")
        self.endpoint = None
        self.access_key = None
        self.secret_key = None
        self.region = self.REGION
        self.procs = {}
        self.sockdir = None
        self.env = None
        self.started_seconds = None

    @property
    def pids(self):
        return [p.pid for p in self.procs.values()]

    def _ceph(self, *args, timeout=30):
        return run(["ceph", "-c", self.conf, "--connect-timeout", "20", *args],
                   timeout=timeout, env=self.env)

    def _write_conf(self, fsid, mon_port, rgw_port, sockdir):
        w = self.workdir
        conf = f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc
run dir = {sockdir}
admin socket = {sockdir}/$name.asok
log file = {self.logdir}/$name.log
keyring = {w}/keyring
mon data = {w}/$name
osd data = {w}/$name
osd objectstore = memstore
memstore device bytes = {self.memstore_bytes}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.01
osd op num shards = 2
osd op num threads per shard = 2
[client]
admin socket =
[client.rgw.a]
admin socket = {sockdir}/$name.asok
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {w}/rgw
rgw thread pool size = 64
rgw init timeout = {STEP_TIMEOUT}
rgw gc obj min wait = 0
rgw gc processor period = 5
"""
        with open(self.conf, "w") as f:
            f.write(conf)

    def _daemon(self, name, argv):
        self.procs[name] = spawn(argv + ["-c", self.conf, "-f"],
                                 os.path.join(self.logdir, f"{name}.out"), self.env)
        return self.procs[name]

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()  # whatever daemons did start
            raise

    def _start(self):
        require_binaries("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool",
                         "ceph", "ceph-authtool")
        t0 = time.monotonic()
        w = self.workdir
        os.makedirs(self.logdir, exist_ok=True)
        self.sockdir = socket_dir(w)
        self.env = dict(os.environ, CEPH_CONF=self.conf)
        fsid, mon_port, rgw_port = str(uuid.uuid4()), free_port(), free_port()
        self._write_conf(fsid, mon_port, rgw_port, self.sockdir)
        open(os.path.join(w, "keyring"), "w").close()
        monmap, mon_keyring = os.path.join(w, "monmap"), os.path.join(w, "mon.keyring")
        run(["monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{mon_port}]",
             "--fsid", fsid, monmap])
        run(["ceph-authtool", "--create-keyring", mon_keyring, "--gen-key", "-n", "mon.",
             "--cap", "mon", "allow *"])
        run(["ceph-mon", "-c", self.conf, "--mkfs", "-i", "a", "--monmap", monmap,
             "--keyring", mon_keyring], env=self.env)
        mon = self._daemon("mon.a", ["ceph-mon", "-i", "a"])
        mon_log = os.path.join(self.logdir, "mon.a.log")

        def osd_id():
            try:
                return self._ceph("osd", "create", timeout=10).strip()
            except (RuntimeError, subprocess.TimeoutExpired):
                return None
        osd = wait_until(osd_id, "ceph-mon answering", mon, mon_log)
        os.makedirs(os.path.join(w, f"osd.{osd}"))
        run(["ceph-osd", "-c", self.conf, "-i", osd, "--mkfs"], env=self.env)
        self._daemon(f"osd.{osd}", ["ceph-osd", "-i", osd])
        # One ceph CLI session creates all pools (each CLI start costs ~0.3 s).
        commands = "".join(f"osd pool create {p} 8 8 replicated\n"
                           f"osd pool application enable {p} rgw\n" for p in RGW_POOLS)
        run(["ceph", "-c", self.conf, "--connect-timeout", "20"], stdin=None,
            input=commands, env=self.env)
        wait_until(lambda: json.loads(self._ceph("osd", "stat", "-f", "json"))
                   .get("num_up_osds") == 1, "ceph-osd up", list(self.procs.values()),
                   os.path.join(self.logdir, f"osd.{osd}.log"), interval=0.1)
        self._daemon("rgw.a", ["radosgw", "-n", "client.rgw.a"])
        self.endpoint = f"http://127.0.0.1:{rgw_port}"

        def rgw_answers():
            try:
                urllib.request.urlopen(self.endpoint, timeout=5).close()
                return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False
        wait_until(rgw_answers, "radosgw answering HTTP", list(self.procs.values()),
                   os.path.join(self.logdir, "client.rgw.a.log"))
        self.access_key = "OCIREG" + secrets.token_hex(7).upper()
        self.secret_key = secrets.token_urlsafe(30)
        run(["radosgw-admin", "-c", self.conf, "user", "create", "--uid=ocireg",
             "--display-name=ocireg", f"--access-key={self.access_key}",
             f"--secret={self.secret_key}"], env=self.env)
        self.started_seconds = time.monotonic() - t0
        return self

    def request(self, method, path, body=b"", headers=None):
        """A signed S3 request to path ("/bucket/key?query"): (status, headers, body)."""
        return sigv4_request(method, self.endpoint + path, self.access_key, self.secret_key,
                             self.region, body, headers)

    def make_bucket(self, name):
        status, _, body = self.request("PUT", f"/{name}")
        if status != 200:
            raise RuntimeError(f"create bucket {name}: HTTP {status}: {body[:500]!r}")

    def stop(self):
        # radosgw first (it is a client of the cluster), then the OSD, then the monitor.
        for name in sorted(self.procs, key=lambda n: ("rgw", "osd", "mon").index(n[:3])):
            stop_process(self.procs[name])
        if self.sockdir and not self.sockdir.startswith(self.workdir):
            shutil.rmtree(self.sockdir, ignore_errors=True)
