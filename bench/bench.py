#!/usr/bin/python3
"""ocireg side-by-side benchmark against Debian's docker-registry (CNCF distribution 2.8.2), with
nginx as the ceiling for blob pull and small static files. See bench/README.md.

Run through bench/run.sh, which builds the load tool and raises the open-file limit.
Standard library only.
"""
import argparse
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ACCEPT = ("application/vnd.oci.image.manifest.v1+json, "
          "application/vnd.docker.distribution.manifest.v2+json")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MiB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- servers

class Server:
    """One server process we started, in its own temp folder, stopped by its PID."""
    ready_statuses = (200,)   # what ready_path answers once it serves

    def __init__(self, name, workdir):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = None
        self.logpath = os.path.join(self.dir, "server.log")
        self.cpu_by_scenario = {}

    def start(self, argv, env=None):
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.logpath}:\n"
                                   + open(self.logpath, errors="replace").read()[-2000:])
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", self.ready_path)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status in self.ready_statuses:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready on port {self.port}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.logf.close()

    def status(self, field):
        """A kB field of /proc/PID/status (VmRSS, VmHWM) in MiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def cpu(self):
        """utime + stime of the process (all its threads) in seconds."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Ocireg(Server):
    ready_path = "/v2/"
    stop_signal = signal.SIGTERM

    def launch(self, binary, s3=None):
        self.binary = binary
        extra, env = [], None
        if s3:
            extra = ["--storage", f"s3://{s3.ocireg_bucket}?endpoint={s3.rgw.endpoint}"
                                  f"&region={s3.rgw.region}{s3.rgw.OCIREG_PARAMS}",
                     "--index", s3.pg_url]
            env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.rgw.access_key,
                       AWS_SECRET_ACCESS_KEY=s3.rgw.secret_key)
        self.where, self.env = extra, env  # what its subcommands need to reach the same data
        self.start([binary, "serve", "--listen", f"127.0.0.1:{self.port}",
                    "--data", os.path.join(self.dir, "data"), "--access-log", "false"] + extra,
                   env)


class Alias:
    """Another name for a running server, for scenarios that compare two paths of one server
    (what interleave needs of a target: name, port, alive, cpu)."""

    def __init__(self, server, name, path):
        self.server, self.name, self.path, self.port = server, name, path, server.port

    def alive(self):
        return self.server.alive()

    def cpu(self):
        return self.server.cpu()


class Distribution(Server):
    ready_path = "/v2/"
    stop_signal = signal.SIGTERM

    def launch(self, s3=None):
        conf = os.path.join(self.dir, "config.yml")
        if s3:
            # The s3 driver with regionendpoint (path-style requests); layers are streamed
            # through the registry, as ocireg does without --blob-redirect.
            driver = f"""  s3:
    accesskey: {s3.rgw.access_key}
    secretkey: {s3.rgw.secret_key}
    region: us-east-1
    regionendpoint: {s3.rgw.endpoint}
    bucket: {s3.dist_bucket}
    secure: false
    v4auth: true
    rootdirectory: /
  redirect:
    disable: true
"""
        else:
            driver = f"""  filesystem:
    rootdirectory: {os.path.join(self.dir, 'data')}
"""
        with open(conf, "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
{driver}  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{self.port}
""")
        # The AWS SDK refuses to start when AWS_CA_BUNDLE is set and the endpoint is plain http.
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"} if s3 else None
        self.start(["docker-registry", "serve", conf], env)


class S3Engines:
    """--s3: PostgreSQL and a one-node Ceph radosgw from tests/engines.py, one bucket for each
    registry, in the benchmark's temp folder; stopped by PID at the end."""

    def __init__(self, workdir, memstore_bytes):
        sys.path.insert(0, ROOT)
        from tests.engines import CephRGW, Postgres
        self.pg = Postgres(os.path.join(workdir, "postgres"))
        self.rgw = CephRGW(os.path.join(workdir, "ceph"), memstore_bytes=memstore_bytes)
        os.makedirs(self.pg.workdir, exist_ok=True)
        os.makedirs(self.rgw.workdir, exist_ok=True)

    def start(self):
        self.pg.start()
        self.rgw.start()
        self.pg_url = self.pg.new_database("ocireg_bench")
        self.ocireg_bucket, self.dist_bucket = "ocireg-bench", "distribution-bench"
        self.rgw.make_bucket(self.ocireg_bucket)
        self.rgw.make_bucket(self.dist_bucket)
        return self

    def stop(self):
        self.rgw.stop()
        self.pg.stop()


class Nginx(Server):
    ready_path = "/ready.txt"
    stop_signal = signal.SIGQUIT  # graceful stop of master and workers

    def launch(self):
        self.www = os.path.join(self.dir, "www")
        os.makedirs(self.www)
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(self.www, "ready.txt"), "w") as f:
            f.write("ok\n")
        conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        # Workers read files in our 0700 temp folder: keep them as the user we run as.
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(conf, "w") as f:
            f.write(user + f"""daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile 16384;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    default_type application/octet-stream;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.www};
        location / {{ }}
    }}
}}
""")
        self.start(["nginx", "-p", d + "/", "-c", conf, "-e", f"{d}/error.log"])


# ---------------------------------------------------------------- HTTP seeding client

class Client:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def req(self, method, path, body=None, headers=None):
        for attempt in range(2):
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                return r.status, r, data
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise

    @staticmethod
    def path_of(location):
        m = re.match(r"^[a-z]+://[^/]+(/.*)$", location)
        return m.group(1) if m else location

    def push_blob(self, repo, data):
        dig = sha256(data)
        st, r, body = self.req("POST", f"/v2/{repo}/blobs/uploads/",
                               headers={"Content-Length": "0"})
        if st != 202:
            raise RuntimeError(f"POST upload {repo}: {st} {body[:200]}")
        loc = self.path_of(r.getheader("Location"))
        loc += ("&" if "?" in loc else "?") + "digest=" + dig
        st, r, body = self.req("PUT", loc, body=data,
                               headers={"Content-Type": "application/octet-stream"})
        if st != 201:
            raise RuntimeError(f"PUT blob {repo}: {st} {body[:200]}")
        return dig

    def put_manifest(self, repo, ref, data):
        st, r, body = self.req("PUT", f"/v2/{repo}/manifests/{ref}", body=data,
                               headers={"Content-Type": OCI_MANIFEST})
        if st != 201:
            raise RuntimeError(f"PUT manifest {repo}:{ref}: {st} {body[:200]}")

    def get_json(self, path, headers=None):
        st, r, body = self.req("GET", path, headers=headers)
        if st != 200:
            raise RuntimeError(f"GET {path}: {st} {body[:200]}")
        return json.loads(body)


def make_manifest(config_bytes, layers):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": d, "size": n} for d, n in layers],
    }, separators=(",", ":")).encode()


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.reps = args.reps or (2 if self.quick else 5)
        self.big = (64 if self.quick or args.s3 else 512) * MiB
        if args.big_mib:
            self.big = args.big_mib * MiB
        self.wrk_secs = int(args.duration or (2 if self.quick else 4))
        # distribution's s3 driver manages about one small image a second on radosgw
        self.small_images = args.images or (30 if args.s3 else 200 if self.quick else 500)
        self.pull_total_1 = (3 if self.quick else 6) * self.big  # 1 client: bytes per run
        self.pull_per_client_8 = 2 if self.quick else 1          # 8 clients: downloads each
        # A loopback download's rate swings with where the scheduler puts the two ends (one
        # client here: 2.5 to 5.9 GB/s from one run to the next, for each server): more
        # repetitions for the pulls, which are short.
        self.pull_reps = self.reps * 2 + 1
        self.results = {}  # (scenario, target) -> list of dicts
        self.order = []
        self.notes = []
        self.counter = 0
        self.loadgen = args.loadgen
        self.workdir = tempfile.mkdtemp(prefix="ocireg-bench-")
        self.servers = []

    # -- plumbing

    def nonce(self):
        self.counter += 1
        return int(time.time()) % 100000 * 1000 + self.counter

    def run_json(self, argv, timeout):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if p.stderr.strip():
            log("    " + p.stderr.strip().replace("\n", "\n    "))
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
        return json.loads(line)

    def wrk(self, port, path, conns, script):
        argv = ["wrk", f"-t2", f"-c{conns}", f"-d{self.wrk_secs}s", "--timeout", "10s",
                "--latency", "-s", script, f"http://127.0.0.1:{port}{path}"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=self.wrk_secs + 60)
        out = p.stdout
        res = {"rps": 0.0, "p99_ms": float("nan"), "errors": 0, "requests": 0}
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if m:
            res["rps"] = float(m.group(1))
        m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            res["p99_ms"] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        m = re.search(r"(\d+) requests in", out)
        if m:
            res["requests"] = int(m.group(1))
        m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if m:
            res["errors"] += int(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            res["errors"] += sum(int(x) for x in m.groups())
            res["socket_errors"] = m.group(0)
        if p.returncode != 0 or not res["requests"]:
            log(f"    wrk failed ({p.returncode}): {out[-500:]} {p.stderr[-500:]}")
            res["errors"] += 1
        return res

    def rate(self, port, path, conns, method="GET", header=None):
        argv = [self.loadgen, "rate", "--port", str(port), "--path", path, "--method", method,
                "--connections", str(conns), "--threads", "2", "--duration", str(self.wrk_secs)]
        if header:
            argv += ["--header", header]
        r = self.run_json(argv, timeout=self.wrk_secs + 60)
        r["errors"] = (r.get("non2xx", 0) + r.get("err_connect", 0) + r.get("err_read", 0)
                       + r.get("err_write", 0) + r.get("err_timeout", 0))
        return r

    def record(self, scenario, target, res):
        self.results.setdefault((scenario, target), []).append(res)

    def interleave(self, scenario, targets, fn, before=None, reps=None, before_rep=None):
        """Runs fn(target) for every rep (self.reps unless given), alternating which target
        goes first; before_rep(rep), untimed, at the start of each rep."""
        log(f"== {scenario}")
        self.order.append(scenario)
        t_scen = time.time()
        for rep in range(reps or self.reps):
            if before_rep:
                before_rep(rep)
            order = targets if rep % 2 == 0 else list(reversed(targets))
            for t in order:
                if not t.alive():
                    log(f"    {t.name} is not running; skipped")
                    continue
                if before:
                    before()
                cpu0 = t.cpu()
                res = fn(t, rep)
                res["cpu_s"] = t.cpu() - cpu0
                # Server CPU per unit of work (comparable even when both saturate the CPU).
                if res.get("requests"):
                    res["cpu_per"], res["cpu_unit"] = res["cpu_s"] / res["requests"] * 1e6, "µs/request"
                elif res.get("images"):
                    res["cpu_per"], res["cpu_unit"] = res["cpu_s"] / res["images"] * 1e3, "ms/image"
                elif res.get("bytes"):
                    res["cpu_per"], res["cpu_unit"] = res["cpu_s"] / (res["bytes"] / 2**30), "s/GiB"
                self.record(scenario, t.name, res)
                main = res.get("mib_s", res.get("rps", res.get("images_s")))
                extra = f" p99 {res['p99_ms']:.2f} ms" if "p99_ms" in res else ""
                err = f" ERRORS {res['errors']}" if res.get("errors") else ""
                log(f"    rep {rep + 1} {t.name:12s} {main:12.1f}{extra} "
                    f"(server cpu {res['cpu_s']:.2f} s){err}")
                time.sleep(0.2)
        log(f"   ({time.time() - t_scen:.1f} s)")

    # -- setup

    def start(self):
        log(f"workdir {self.workdir}")
        self.oci = Ocireg("ocireg", self.workdir)
        self.dist = Distribution("distribution", self.workdir)
        self.nginx = Nginx("nginx", self.workdir)
        for s in (self.oci, self.dist, self.nginx):
            self.servers.append(s)
        self.s3 = None
        if self.args.s3:
            self.s3 = S3Engines(self.workdir, memstore_bytes=(self.big // MiB * 40 + 2048) * MiB)
            self.s3.start()
            log(f"S3 (radosgw) {self.s3.rgw.endpoint}, PostgreSQL {self.s3.pg_url}")
        self.oci.launch(self.args.ocireg, self.s3)
        self.dist.launch(self.s3)
        self.nginx.launch()
        time.sleep(0.5)
        self.rss_start = {s.name: s.status("VmRSS") for s in (self.oci, self.dist)}
        log(f"ocireg :{self.oci.port}  distribution :{self.dist.port}  nginx :{self.nginx.port}")

    def stop(self):
        for s in reversed(self.servers):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {s.name}: {e}")
        if getattr(self, "s3", None):
            self.s3.stop()

    def seed(self):
        t0 = time.time()
        big_path = os.path.join(self.nginx.www, "blob.bin")
        with open(big_path, "wb") as f:
            left = self.big
            while left:
                n = min(left, 16 * MiB)
                f.write(os.urandom(n))
                left -= n
        self.big_digest = None
        small_layer = os.urandom(4096)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [sha256(small_layer)]}},
                            separators=(",", ":")).encode()
        for reg in (self.oci, self.dist):
            r = self.run_json([self.loadgen, "pushblob", "--port", str(reg.port), "--repo",
                               "bench/app", "--file", big_path, "--deadline", "300"], timeout=330)
            if r.get("errors"):
                raise RuntimeError(f"seeding the big blob into {reg.name} failed")
            self.big_digest = r["digest"]
            c = Client(reg.port)
            c.push_blob("bench/app", small_layer)
            c.push_blob("bench/app", config)
            app_manifest = make_manifest(config, [(sha256(small_layer), len(small_layer)),
                                                  (self.big_digest, self.big)])
            c.put_manifest("bench/app", "latest", app_manifest)
            small_manifest = make_manifest(config, [(sha256(small_layer), len(small_layer))])
            c.push_blob("bench/tags", small_layer)
            c.push_blob("bench/tags", config)
            for i in range(1001):
                c.put_manifest("bench/tags", f"t{i:04d}", small_manifest)
            for i in range(198):
                repo = f"cat/repo-{i:03d}"
                c.push_blob(repo, small_layer)
                c.push_blob(repo, config)
                c.put_manifest(repo, "v1", small_manifest)
            c.push_blob("small/push", small_layer)
            c.push_blob("small/push", config)
            c.put_manifest("small/push", "seed", small_manifest)
            # What each one serves, checked once: identical manifest bytes, counts.
            st, r, body = c.req("GET", "/v2/bench/app/manifests/latest", headers={"Accept": ACCEPT})
            if st != 200 or body != app_manifest:
                raise RuntimeError(f"{reg.name}: manifest GET does not return the pushed bytes")
            reg.counts = {
                "tags_full": len(c.get_json("/v2/bench/tags/tags/list")["tags"]),
                "tags_n100": len(c.get_json("/v2/bench/tags/tags/list?n=100")["tags"]),
                "catalog": len(c.get_json("/v2/_catalog?n=1000")["repositories"]),
            }
            log(f"seeded {reg.name}: {reg.counts}")
        self.app_manifest = app_manifest
        self.app_digest = sha256(app_manifest)
        self.layer_digest = sha256(small_layer)
        with open(os.path.join(self.nginx.www, "manifest.json"), "wb") as f:
            f.write(app_manifest)
        self.lua_manifest = os.path.join(self.workdir, "manifest.lua")
        with open(self.lua_manifest, "w") as f:
            f.write(f'wrk.method = "GET"\nwrk.headers["Accept"] = "{ACCEPT}"\n')
        self.lua_get = os.path.join(self.workdir, "get.lua")
        with open(self.lua_get, "w") as f:
            f.write('wrk.method = "GET"\n')
        time.sleep(2)
        self.rss_seeded = {s.name: s.status("VmRSS") for s in (self.oci, self.dist)}
        log(f"seeding took {time.time() - t0:.1f} s")

    # -- scenarios

    def run(self):
        regs = [self.oci, self.dist]
        all3 = [self.oci, self.dist, self.nginx]
        big_mib = self.big // MiB
        sel = self.args.only.split(",") if self.args.only else None

        def want(key):
            return sel is None or any(k in key for k in sel)

        def pushblob(chunk):
            def fn(t, rep):
                return self.run_json([self.loadgen, "pushblob", "--port", str(t.port), "--repo",
                                      "bench/app", "--size", str(self.big), "--chunk", str(chunk),
                                      "--nonce", str(self.nonce()), "--deadline", "240"],
                                     timeout=300)
            return fn

        if want("push"):
            # sync first so that one server's dirty pages are not written back during the next.
            self.interleave(f"push_mono", regs, pushblob(0), before=os.sync)
            self.interleave(f"push_chunked", regs, pushblob(8 * MiB), before=os.sync)

        def pull(clients, count):
            def fn(t, rep):
                path = "/blob.bin" if t is self.nginx else f"/v2/bench/app/blobs/{self.big_digest}"
                return self.run_json([self.loadgen, "pull", "--port", str(t.port), "--path", path,
                                      "--clients", str(clients), "--count", str(count),
                                      "--deadline", "120"], timeout=180)
            return fn

        if want("pull"):
            # One untimed download each first: ocireg wrote the blob with O_DIRECT (not in the
            # page cache), distribution and nginx through the page cache. Measure serving, not
            # the first read from disk.
            for t in all3:
                pull(1, 1)(t, 0)
            self.interleave("pull_1", all3, pull(1, max(1, self.pull_total_1 // self.big)),
                            reps=self.pull_reps)
            self.interleave("pull_8", all3, pull(8, self.pull_per_client_8), reps=self.pull_reps)

        def pull_after_push(t, rep):
            # What CI then a deploy feel: a blob's first download right after its push.
            pushed = self.run_json([self.loadgen, "pushblob", "--port", str(t.port), "--repo",
                                    "bench/first", "--size", str(self.big), "--nonce",
                                    str(self.nonce()), "--deadline", "240"], timeout=300)
            if pushed.get("errors"):
                return {"errors": pushed["errors"]}
            return self.run_json([self.loadgen, "pull", "--port", str(t.port), "--path",
                                  f"/v2/bench/first/blobs/{pushed['digest']}", "--clients", "1",
                                  "--count", "1", "--deadline", "120"], timeout=180)

        if want("first"):
            self.interleave("pull_first", regs, pull_after_push, before=os.sync)

        def head(conns):
            def fn(t, rep):
                path = "/blob.bin" if t is self.nginx else f"/v2/bench/app/blobs/{self.layer_digest}"
                return self.rate(t.port, path, conns, method="HEAD")
            return fn

        def wrk_get(path_reg, path_nginx, conns, script):
            def fn(t, rep):
                return self.wrk(t.port, path_nginx if t is self.nginx else path_reg, conns, script)
            return fn

        if want("head"):
            self.interleave("blob_head_64", all3, head(64))
        if want("manifest"):
            self.interleave("manifest_tag_64", all3, wrk_get(
                "/v2/bench/app/manifests/latest", "/manifest.json", 64, self.lua_manifest))
            self.interleave("manifest_digest_64", regs, wrk_get(
                f"/v2/bench/app/manifests/{self.app_digest}", "/manifest.json", 64,
                self.lua_manifest))
            self.interleave("manifest_tag_1024", all3, wrk_get(
                "/v2/bench/app/manifests/latest", "/manifest.json", 1024, self.lua_manifest))
        if want("tags"):
            self.interleave("tags_full", regs, wrk_get(
                "/v2/bench/tags/tags/list", None, 64, self.lua_get))
            self.interleave("tags_n100", regs, wrk_get(
                "/v2/bench/tags/tags/list?n=100", None, 64, self.lua_get))
        if want("catalog"):
            self.interleave("catalog", regs, wrk_get("/v2/_catalog?n=1000", None, 64, self.lua_get))

        def pushimages(clients):
            def fn(t, rep):
                n = self.nonce()
                return self.run_json([self.loadgen, "pushimages", "--port", str(t.port), "--repo",
                                      "small/push", "--images", str(self.small_images),
                                      "--clients", str(clients), "--nonce", str(n),
                                      "--prefix", f"n{n}c{clients}", "--deadline", "120"],
                                     timeout=180)
            return fn

        if want("small"):
            self.interleave("small_push_1", regs, pushimages(1))
            self.interleave("small_push_8", regs, pushimages(8))
        if sel is None or "pullthrough" in sel:
            self.pullthrough()
        time.sleep(2)
        self.rss_end = {s.name: s.status("VmRSS") for s in (self.oci, self.dist)}
        self.hwm = {s.name: s.status("VmHWM") for s in (self.oci, self.dist)}
        self.anon_end = {s.name: s.status("RssAnon") for s in (self.oci, self.dist)}
        self.file_end = {s.name: s.status("RssFile") for s in (self.oci, self.dist)}
        self.cpu_total = {s.name: s.cpu() for s in (self.oci, self.dist)}

    def pullthrough(self):
        """The pull-through cache, with distribution as its upstream (rule prefix `up`): a cold
        pull of a new big blob through the cache vs the same blob straight from distribution
        (each rep pushes a new one, untimed), then a warm pull of a cached blob vs a local pull
        of the seeded one, both from ocireg."""
        # With --s3 the rule goes where the server keeps its index (PostgreSQL), not into
        # the data folder's SQLite file, which that server never reads.
        subprocess.run([self.args.ocireg, "cache-rule", "add", "up",
                        f"http://127.0.0.1:{self.dist.port}", "--data",
                        os.path.join(self.oci.dir, "data")] + self.oci.where, check=True,
                       capture_output=True, timeout=60, env=self.oci.env)
        blobs = []

        def fills():
            text = Client(self.oci.port).req("GET", "/metrics")[2].decode()
            m = re.search(r"^ocireg_pullthrough_blob_fills_total (\d+)$", text, re.M)
            return int(m.group(1)) if m else -1

        def new_blob(rep):
            # The previous fill's durable commit ends first, and its writeback: no rep pays
            # for another's.
            deadline = time.time() + 120
            while fills() < len(blobs) and time.time() < deadline:
                time.sleep(0.1)
            r = self.run_json([self.loadgen, "pushblob", "--port", str(self.dist.port), "--repo",
                               "bench/up", "--size", str(self.big), "--nonce", str(self.nonce()),
                               "--deadline", "240"], timeout=300)
            if r.get("errors"):
                raise RuntimeError("pushing the upstream's blob into distribution failed")
            blobs.append(r["digest"])
            os.sync()

        def pull_path(t, path):
            return self.run_json([self.loadgen, "pull", "--port", str(t.port), "--path", path,
                                  "--clients", "1", "--count", "1", "--deadline", "120"],
                                 timeout=180)

        def cold(t, rep):
            repo = "up/bench/up" if t is self.oci else "bench/up"
            return pull_path(t, f"/v2/{repo}/blobs/{blobs[-1]}")

        self.interleave("pt_cold", [self.oci, self.dist], cold, before_rep=new_blob)
        warm = Alias(self.oci, "ocireg-warm", f"/v2/up/bench/up/blobs/{blobs[-1]}")
        local = Alias(self.oci, "ocireg-local", f"/v2/bench/app/blobs/{self.big_digest}")
        for t in (warm, local):  # untimed: the local blob was written with O_DIRECT
            pull_path(t, t.path)
        self.interleave("pt_warm", [warm, local], lambda t, rep: pull_path(t, t.path),
                        reps=self.pull_reps)

    # -- report

    def med(self, scenario, target, key):
        rs = self.results.get((scenario, target))
        if not rs:
            return None
        vals = [r[key] for r in rs if key in r and r[key] == r[key]]
        return statistics.median(vals) if vals else None

    def paired(self, scenario, key, other="distribution"):
        """Median of per-repetition ratios ocireg ÷ other (each pair ran back to back)."""
        a = self.results.get((scenario, "ocireg")) or []
        b = self.results.get((scenario, other)) or []
        rs = [x[key] / y[key] for x, y in zip(a, b)
              if key in x and key in y and y[key] and x[key] == x[key] and y[key] == y[key]]
        return statistics.median(rs) if rs else None

    def errs(self, scenario, target):
        rs = self.results.get((scenario, target)) or []
        return sum(int(r.get("errors", 0)) for r in rs)

    def cpu_sum(self, scenario, target):
        rs = self.results.get((scenario, target)) or []
        return sum(r.get("cpu_s", 0) for r in rs)

    def report(self):
        rows = []
        big_mib = self.big // MiB

        def fmt(v, nd=1):
            if v is None:
                return "—"
            if abs(v) >= 100:
                return f"{v:,.0f}"
            return f"{v:.{nd}f}" if abs(v) >= 1 else f"{v:.3f}"

        def ratio(a, b):
            if a is None or b is None or b == 0:
                return None
            return a / b

        def add(label, unit, scen, key, target_text=None, check=None, vs_nginx=False,
                higher_better=True):
            o = self.med(scen, "ocireg", key)
            d = self.med(scen, "distribution", key)
            n = self.med(scen, "nginx", key) if vs_nginx else None
            rod = ratio(o, d)
            ron = ratio(o, n)
            met = ""
            if check:
                v = check(rod, ron, o, d)
                met = "—" if v is None else ("yes" if v else "**no**")
            eo, ed = self.errs(scen, "ocireg"), self.errs(scen, "distribution")
            pr = self.paired(scen, key)
            rows.append([label, unit, fmt(o, 2), fmt(d, 2), fmt(n, 2) if vs_nginx else "",
                         (fmt(rod, 2) + "×") if rod is not None else "—",
                         (fmt(pr, 2) + "×") if pr is not None else "—",
                         (f"{ron * 100:.0f}%") if ron is not None else "",
                         target_text or "", met, f"{eo}/{ed}"])

        ge = lambda k: (lambda rod, ron, o, d: None if rod is None else rod >= k)
        le = lambda k: (lambda rod, ron, o, d: None if rod is None else rod <= k)
        nginx95 = lambda rod, ron, o, d: None if ron is None else ron >= 0.95

        add(f"blob push monolithic, {big_mib} MiB", "MiB/s", "push_mono", "mib_s", "≥ 2×", ge(2))
        add(f"blob push chunked 8 MiB PATCHes, {big_mib} MiB", "MiB/s", "push_chunked", "mib_s",
            "≥ 4×", ge(4))
        add(f"blob pull {big_mib} MiB, 1 client", "MiB/s", "pull_1", "mib_s",
            "≥ 95% of nginx", nginx95, vs_nginx=True)
        add(f"blob pull {big_mib} MiB, 8 clients", "MiB/s", "pull_8", "mib_s",
            "≥ 95% of nginx", nginx95, vs_nginx=True)
        add(f"blob pull {big_mib} MiB right after its push (first download)", "MiB/s",
            "pull_first", "mib_s", "≥ 0.95×", ge(0.95))
        add("blob HEAD, 64 conns", "req/s", "blob_head_64", "rps", "≥ 10×", ge(10), vs_nginx=True)
        add("blob HEAD, 64 conns", "p99 ms", "blob_head_64", "p99_ms", "≤ 0.1×", le(0.1),
            vs_nginx=True)
        add("manifest GET by tag, 64 conns", "req/s", "manifest_tag_64", "rps", "≥ 10×", ge(10),
            vs_nginx=True)
        add("manifest GET by tag, 64 conns", "p99 ms", "manifest_tag_64", "p99_ms", "≤ 0.1×",
            le(0.1), vs_nginx=True)
        add("manifest GET by digest, 64 conns", "req/s", "manifest_digest_64", "rps", "≥ 10×",
            ge(10))
        add("manifest GET by digest, 64 conns", "p99 ms", "manifest_digest_64", "p99_ms",
            "≤ 0.1×", le(0.1))
        add("manifest GET by tag, 1024 conns", "req/s", "manifest_tag_1024", "rps", "≥ 10×",
            ge(10), vs_nginx=True)
        add("manifest GET by tag, 1024 conns", "p99 ms", "manifest_tag_1024", "p99_ms", "≤ 0.1×",
            le(0.1), vs_nginx=True)
        # 1024 vs 64 connections, each server against itself.
        o64, o1k = self.med("manifest_tag_64", "ocireg", "rps"), self.med("manifest_tag_1024",
                                                                          "ocireg", "rps")
        d64, d1k = self.med("manifest_tag_64", "distribution", "rps"), self.med(
            "manifest_tag_1024", "distribution", "rps")
        ro, rd = ratio(o1k, o64), ratio(d1k, d64)
        e1k = self.errs("manifest_tag_1024", "ocireg")
        rows.append(["manifest GET 1024 ÷ 64 conns (own rate)", "ratio", fmt(ro, 2), fmt(rd, 2),
                     "", "", "", "", "≥ 0.8, no errors",
                     "—" if ro is None else ("yes" if ro >= 0.8 and e1k == 0 else "**no**"),
                     f"{e1k}/{self.errs('manifest_tag_1024', 'distribution')}"])
        tc = lambda k: f" ({self.oci.counts[k]} / {self.dist.counts[k]} items)"
        add("tags list, 1,001 tags, full" + tc("tags_full"), "req/s", "tags_full", "rps", "≥ 10×",
            ge(10))
        if self.dist.counts["tags_n100"] == self.oci.counts["tags_n100"]:
            add("tags list ?n=100" + tc("tags_n100"), "req/s", "tags_n100", "rps", "≥ 10×",
                ge(10))
        else:  # distribution 2.8.2 ignores n: unequal work, no ratio (see the notes)
            rows.append(["tags list ?n=100" + tc("tags_n100"), "req/s",
                         fmt(self.med("tags_n100", "ocireg", "rps"), 2),
                         fmt(self.med("tags_n100", "distribution", "rps"), 2), "",
                         "no ratio", "no ratio", "", "(unequal work)", "—",
                         f"{self.errs('tags_n100', 'ocireg')}/{self.errs('tags_n100', 'distribution')}"])
        add("catalog ?n=1000, 201 repos" + tc("catalog"), "req/s", "catalog", "rps", "≥ 10×",
            ge(10))
        add(f"small image push ×{self.small_images}, 1 client", "images/s", "small_push_1",
            "images_s", "≥ 8× (issue 19)", ge(8))
        add(f"small image push ×{self.small_images}, 8 clients", "images/s", "small_push_8",
            "images_s", "≥ 10× (issue 19)", ge(10))

        add(f"pull-through: cold pull of a {big_mib} MiB blob vs the same blob straight from "
            "distribution (its upstream)", "MiB/s", "pt_cold", "mib_s", "≥ 0.90×", ge(0.9))
        w, l = self.med("pt_warm", "ocireg-warm", "mib_s"), self.med("pt_warm", "ocireg-local",
                                                                       "mib_s")
        pairs = [x["mib_s"] / y["mib_s"] for x, y in zip(self.results.get(("pt_warm", "ocireg-warm"), []),
                                                         self.results.get(("pt_warm", "ocireg-local"), []))
                 if x.get("mib_s") and y.get("mib_s")]
        pw = statistics.median(pairs) if pairs else None
        rows.append([f"pull-through: warm pull of the cached {big_mib} MiB blob (ocireg column) vs "
                     "a local pull of a pushed one (distribution column: ocireg again)", "MiB/s",
                     fmt(w, 2), fmt(l, 2), "", (fmt(ratio(w, l), 2) + "×") if ratio(w, l) else "—",
                     (fmt(pw, 2) + "×") if pw else "—", "", "≈ local (≥ 0.90×)",
                     "—" if pw is None else ("yes" if pw >= 0.9 else "**no**"),
                     f"{self.errs('pt_warm', 'ocireg-warm')}/{self.errs('pt_warm', 'ocireg-local')}"])

        def res_row(label, vals, target_text="", limit=None):
            o, d = vals.get("ocireg"), vals.get("distribution")
            r = ratio(o, d)
            met = "" if limit is None else ("—" if r is None else ("yes" if r <= limit else "**no**"))
            rows.append([label, "MiB" if "RSS" in label else "s", fmt(o, 1), fmt(d, 1), "",
                         (fmt(r, 2) + "×") if r is not None else "—", "", "", target_text, met,
                         ""])

        res_row("server RSS after start (empty)", self.rss_start)
        res_row("server RSS idle after seeding", self.rss_seeded, "≤ 0.25×", 0.25)
        res_row("server RSS idle after the load", self.rss_end, "≤ 0.25×", 0.25)
        res_row("server peak RSS (VmHWM)", self.hwm, "≤ 0.25×", 0.25)
        res_row("of the idle RSS: anonymous (RssAnon)", self.anon_end)
        res_row("of the idle RSS: file-backed, shared libraries (RssFile)", self.file_end)
        res_row("server CPU seconds, whole run (utime+stime)", self.cpu_total)
        self.rows = rows
        header = ["scenario", "unit", "ocireg", "distribution", "nginx", "ocireg ÷ dist",
                  "paired ÷ dist", "ocireg ÷ nginx", "target", "met", "errors o/d"]
        table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            table.append("| " + " | ".join(r) + " |")
        self.table = "\n".join(table)

        # Server CPU per unit of work, medians over reps (nginx: master process only, so none).
        cpu = ["| scenario | unit | ocireg | distribution | ocireg ÷ dist |", "|---|---|---|---|---|"]
        for scen in self.order:
            co, cd = self.med(scen, "ocireg", "cpu_per"), self.med(scen, "distribution", "cpu_per")
            units = [r.get("cpu_unit") for r in self.results.get((scen, "ocireg"), [])] + [""]
            r = ratio(co, cd)
            cpu.append(f"| {scen} | {units[0]} | {fmt(co, 2)} | {fmt(cd, 2)} | "
                       f"{(fmt(r, 2) + '×') if r else '—'} |")
        self.cpu_table = "\n".join(cpu)

    # -- RESULTS.md

    def raw_section(self):
        out = ["| scenario | figure | ocireg | distribution | nginx |", "|---|---|---|---|---|"]
        for scen in self.order:
            for key in ("mib_s", "rps", "p99_ms", "images_s"):
                cells = []
                names = ("ocireg-warm", "ocireg-local", "nginx") if scen == "pt_warm" else \
                    ("ocireg", "distribution", "nginx")
                for t in names:
                    rs = self.results.get((scen, t)) or []
                    vals = [r[key] for r in rs if key in r and r[key] == r[key]]
                    cells.append(", ".join(f"{v:.0f}" if v >= 100 else f"{v:.2f}" for v in vals))
                if any(cells):
                    out.append(f"| {scen} | {key} | " + " | ".join(cells) + " |")
        return "\n".join(out)

    def environment(self):
        def cmd(argv):
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                return (p.stdout + p.stderr).strip().splitlines()[0]
            except Exception as e:
                return f"unknown ({e})"
        model = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
        commit = cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(),
            "cpu": model,
            "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "kernel": os.uname().release,
            "ocireg": cmd([self.args.ocireg, "--version"]) + f" (commit {commit}"
                      + (", with uncommitted changes" if dirty else "") + ")",
            "distribution": cmd(["docker-registry", "--version"]),
            "nginx": cmd(["nginx", "-v"]),
            "wrk": cmd(["wrk", "-v"]).split(" Copyright")[0].strip(),
            "loadavg": open("/proc/loadavg").read().strip(),
        }

    def log_summary(self):
        out = {}
        for s in (self.oci, self.dist, self.nginx):
            try:
                text = open(s.logpath, errors="replace").read()
            except OSError:
                text = ""
            if s is self.nginx:
                try:
                    text += open(os.path.join(s.dir, "error.log"), errors="replace").read()
                except OSError:
                    pass
            lines = [l for l in text.splitlines() if l.strip()]
            bad = [l for l in lines if re.search(r"\b(error|warn|panic|fatal|crit|alert|emerg)\b",
                                                 l, re.I)]
            # Group alike lines: drop times, ids, addresses and numbers.
            kinds = {}
            for l in bad:
                k = re.sub(r"time=\"[^\"]*\"|http\.request\.id=\S+|\d+", "#", l)[:200]
                kinds.setdefault(k, [0, l])[0] += 1
            rc = s.proc.returncode if s.proc else None
            rc = f"signal {-rc}" if rc is not None and rc < 0 else str(rc)
            out[s.name] = (len(lines), [f"({n}×) {l}" for n, l in kinds.values()][:8], rc,
                           len(bad))
        return out

    def write(self, env, logs, elapsed):
        mode = "quick" if self.quick else "full"
        flags = (" --quick" if self.quick else "") + (" --s3" if self.args.s3 else "")
        lines = [
            "# ocireg benchmark results" + (" on S3 (Ceph radosgw) + PostgreSQL"
                                            if self.args.s3 else ""),
            "",
        ] + ([
            "Both registries keep their blobs in one local radosgw (Ceph 16.2, one OSD on "
            "memstore, started by tests/engines.py): ocireg with `--storage s3://...` and its "
            "index in PostgreSQL 15 (`--index postgres://...`), distribution 2.8.2 with its `s3` "
            "storage driver (`regionendpoint`, redirects off, so both stream layers). nginx "
            "serves the same file from local disk as the ceiling. RSS rows are the registry "
            "processes only (the Ceph daemons and PostgreSQL are shared and not counted).",
            "",
        ] if self.args.s3 else []) + [
            f"Produced by `bench/run.sh{flags}` ({mode} mode, "
            f"{elapsed / 60:.1f} min). Figures are medians of {self.reps} interleaved repetitions "
            f"({self.pull_reps} for the pulls); "
            "ratios are ocireg ÷ distribution (and ocireg ÷ nginx for the ceilings) from the same "
            "run. See bench/README.md for what each scenario does. The machine is shared with "
            "other work, so single figures are noisy; the ratios are what to read.",
            "",
            "## Machine and versions",
            "",
            f"- date: {env['date']}",
            f"- CPU: {env['cpu']}, nproc {env['nproc']}; memory {env['memory']}; "
            f"kernel {env['kernel']}; load average at the end: {env['loadavg']}",
            f"- ocireg: {env['ocireg']}",
            f"- distribution: {env['distribution']}",
            f"- nginx: {env['nginx']}",
            f"- wrk: {env['wrk']}",
            "",
            "## Parameters",
            "",
            f"- repetitions {self.reps}; wrk / rate runs {self.wrk_secs} s each, 2 client threads",
            f"- big blob {self.big // MiB} MiB; small image push {self.small_images} images per run "
            "(config + one 1 KiB layer + manifest, each distinct)",
            f"- pull ({self.pull_reps} repetitions), 1 client: "
            f"{max(1, self.pull_total_1 // self.big)} downloads in a row; "
            f"8 clients: {self.pull_per_client_8} download(s) each",
            "",
            "## Results",
            "",
            self.table,
            "",
            "`ocireg ÷ dist` is the ratio of the medians, which `met` uses; `paired ÷ dist` is the "
            "median of the per-repetition ratios (each pair ran back to back, so it is steadier "
            "when the machine's load changes during the run). "
            "`errors o/d`: non-2xx responses plus socket errors, summed over all repetitions, "
            "ocireg / distribution. `met` compares the ratio with the project's target; it is a "
            "report, not an assertion.",
            "",
            "## Server CPU per unit of work",
            "",
            "utime+stime of the server process from /proc/PID/stat around each run, divided by "
            "the requests, images or bytes that run completed; medians.",
            "",
            self.cpu_table,
            "",
            "## Raw figures per repetition",
            "",
            "Repetition 1, 2, … for each server (which server goes first alternates between repetitions).",
            "",
            self.raw_section(),
            "",
            "## Notes from this run",
            "",
        ]
        for n in self.notes:
            lines.append(f"- {n}")
        for name, (count, bad, rc, nbad) in logs.items():
            s = f"- {name} log: {count} lines, {nbad} of them errors or warnings; exit status {rc}"
            if bad:
                s += "; error/warning lines (first ones):\n" + "\n".join(
                    f"    {b[:300]}" for b in bad)
            else:
                s += "; no error or warning lines"
            lines.append(s)
        lines.append("")
        path = self.args.out
        with open(path, "w") as f:
            f.write("\n".join(lines))
        log(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer reps, 64 MiB blobs, short runs")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--duration", type=int, default=0, help="seconds per wrk/rate run")
    ap.add_argument("--images", type=int, default=0, help="images per small-push run")
    ap.add_argument("--only", default="", help="comma list: push,pull,first,head,manifest,tags,"
                                               "catalog,small,pullthrough,replication,console "
                                               "(console: only when named)")
    ap.add_argument("--ocireg", default=os.path.join(ROOT, "build", "ocireg"))
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (data and logs)")
    ap.add_argument("--s3", action="store_true",
                    help="both registries on one radosgw (S3), ocireg's index in PostgreSQL")
    ap.add_argument("--big-mib", type=int, default=0, help="size of the big blob in MiB")
    args = ap.parse_args()
    if args.s3 and args.out == os.path.join(HERE, "RESULTS.md"):
        args.out = os.path.join(HERE, "RESULTS-s3.md")

    only = [k for k in args.only.split(",") if k]
    with_replication = ("replication" in only or not only) and not args.s3
    if with_replication:
        import replication  # bench/replication.py: two ocireg of its own, on local disk
    console = "console" in only
    # The console's page loads (bench/console_pages.py: its own server, seeding and browser,
    # over a minute) run only when named; replication runs when named or in a full run. Both
    # after the others, each writing its own section of the results.
    rest = [k for k in only if k not in ("console", "replication")]
    if only and not rest:
        if with_replication:
            replication.main(args)
        if console:
            run_console(args)
        return
    args.only = ",".join(rest)
    t0 = time.time()
    b = Bench(args)
    scripts_env = None
    ok = False
    try:
        scripts_env = b.environment()  # versions and commit of what is measured
        b.start()
        b.seed()
        b.run()
        b.notes.append(
            "blob HEAD is measured with the project's `loadgen rate` (same closed loop as wrk, "
            "epoll, 2 threads), because wrk 4.1 waits for a body after a HEAD response that has "
            "Content-Length; every other req/s figure is wrk's.")
        if b.dist.counts["tags_n100"] != 100:
            b.notes.append(
                f"distribution 2.8.2 ignores `n` on the tags list and returned "
                f"{b.dist.counts['tags_n100']} tags for `?n=100` (ocireg returned "
                f"{b.oci.counts['tags_n100']}), so that row shows no ratio: it would compare unequal work.")
        b.notes.append(
            "the catalog is requested with `?n=1000` on both, because distribution returns only "
            "100 repositories without `n`.")
        b.notes.append(
            "ocireg fsyncs each blob before it is visible; distribution does not fsync. "
            "Each push run is preceded by a sync so no run pays for another's writeback.")
        b.notes.append(
            "before the pull runs each server serves the blob once, untimed: ocireg wrote it with "
            "O_DIRECT, so it was not in the page cache, while the others' copies were.")
        b.report()
        b.logs = b.log_summary()
        ok = True
    finally:
        b.stop()
        if ok:
            # Exit statuses are known only after the stop.
            b.logs = b.log_summary()
        if args.keep:
            log(f"kept {b.workdir}")
        else:
            shutil.rmtree(b.workdir, ignore_errors=True)
    elapsed = time.time() - t0
    env = b.environment()
    if scripts_env:
        for k in ("ocireg", "distribution", "nginx", "wrk"):
            env[k] = scripts_env[k]
    log("")
    log(b.table)
    log("")
    log(b.cpu_table)
    for name, (count, bad, rc, nbad) in b.logs.items():
        log(f"{name}: log {count} lines ({nbad} error/warn), exit {rc}"
            + "".join("\n    " + x[:300] for x in bad))
    b.write(env, b.logs, elapsed)
    log(f"total {elapsed:.0f} s")
    if with_replication:
        replication.main(args)
    if console:
        run_console(args)


def run_console(args):
    import console_pages
    console_pages.run(reps=args.reps or (3 if args.quick else 5), log=log, out=args.out,
                     binary=args.ocireg)


if __name__ == "__main__":
    main()
