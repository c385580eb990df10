"""bench/replication.py - replication lag and throughput (issue 21), run by bench.py for
`--only replication`: a source ocireg replicating every push to `rep/` to a second ocireg.

Lag is push acknowledged (the manifest PUT's 201) -> the manifest readable at the destination
(GET by tag answering 200, polled every millisecond), for small images (config + one 1 KiB
layer): one image at a time on an idle queue, and again while 8 clients push (loadgen
pushimages). Throughput: images/s pushed by those 8 clients vs images/s replicated (the same
images, counted from the first push until the last is in its repository's tag list at the
destination, polled every millisecond; each is then checked readable by tag, untimed).
Standard library only; servers on 127.0.0.1, stopped by their PID."""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.parse

from bench import Ocireg, log  # the orchestrator's server class and progress log

REGION, DEST = "us-east-1", ("us-west-2", "111111111111")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ecr_call(port, key, target, body):
    """One ECR JSON call signed with SigV4 (service ecr); returns (status, parsed body)."""
    payload = json.dumps(body).encode()
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    hdrs = {"content-type": "application/x-amz-json-1.1", "host": f"127.0.0.1:{port}",
            "x-amz-date": amz_date,
            "x-amz-target": f"AmazonEC2ContainerRegistry_V20150921.{target}"}
    signed = ";".join(sorted(hdrs))
    canonical = "\n".join(["POST", "/", ""] + [f"{k}:{hdrs[k]}" for k in sorted(hdrs)]
                          + ["", signed, hashlib.sha256(payload).hexdigest()])
    scope = f"{day}/{REGION}/ecr/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + key["SecretAccessKey"]).encode()
    for part in (day, REGION, "ecr", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key['AccessKeyId']}/{scope}, "
                             f"SignedHeaders={signed}, Signature="
                             + hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest())
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/", body=payload, headers=hdrs)
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, json.loads(out or b"{}")


class Http:
    """One keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def req(self, method, path, body=None, headers=None):
        try:
            self.c.request(method, path, body=body, headers=headers or {})
            r = self.c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            self.c.close()
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push_small(h, repo, tag, n):
    """config + 1 KiB layer + manifest by tag; returns the time of the 201."""
    layer = os.urandom(1024)
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": n}).encode()
    for blob in (layer, config):
        st, _ = h.req("POST", f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", blob,
                      {"Content-Type": "application/octet-stream"})
        assert st == 201, f"blob push: {st}"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer), "size": len(layer)}]}).encode()
    st, body = h.req("PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                     {"Content-Type": OCI_MANIFEST})
    assert st == 201, f"manifest push: {st} {body[:200]}"
    return time.monotonic()


def wait_readable(h, repo, tag, deadline):
    """Polls the destination until repo:tag answers 200; the time it did (None: deadline)."""
    while time.monotonic() < deadline:
        st, _ = h.req("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        if st == 200:
            return time.monotonic()
        time.sleep(0.001)
    return None


def wait_listed(h, expected, deadline):
    """Polls each repository's tag list at the destination until it holds every tag expected
    of it ({repo: {tag}}); the time the last was listed (None: deadline)."""
    missing = {repo: set(tags) for repo, tags in expected.items()}
    while time.monotonic() < deadline:
        for repo in list(missing):
            st, body = h.req("GET", f"/v2/{repo}/tags/list?n=100000")
            if st == 200:
                missing[repo] -= set(json.loads(body).get("tags") or [])
            if not missing[repo]:
                del missing[repo]
        if not missing:
            return time.monotonic()
        time.sleep(0.001)
    return None


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def lags(src, dst, repo, count, prefix, stop=None):
    """Pushes `count` images one at a time (or until stop is set); their lags in ms."""
    hs, hd = Http(src.port), Http(dst.port)
    out = []
    for i in range(count):
        if stop is not None and stop.is_set():
            break
        acked = push_small(hs, repo, f"{prefix}{i}", i)
        seen = wait_readable(hd, repo, f"{prefix}{i}", acked + 30)
        out.append((seen - acked) * 1000 if seen else float("inf"))
    return out


class ReplicationBench:
    def __init__(self, bench):
        self.b = bench

    def setup(self):
        b = self.b
        self.dst = Ocireg("replica", b.workdir)
        self.dst.launch(b.args.ocireg)
        self.src = Ocireg("source", b.workdir)
        data = os.path.join(self.src.dir, "data")

        def cli(*args, stdin=None):
            return subprocess.run([b.args.ocireg, *args, "--data", data], input=stdin,
                                  capture_output=True, text=True, timeout=60, check=True).stdout
        # The rules go in through ECR (SigV4, a user's key) on a first start; the user is then
        # removed so that the measured server runs without auth, as the other scenarios do.
        cli("user", "add", "bench", "--password-stdin", stdin="bench-pass\n")
        cli("grant", "bench", "*", "*")
        key = json.loads(cli("user", "key", "create", "bench", "--json"))
        cli("replication", "destination", "add", "--region", DEST[0], "--registry-id", DEST[1],
            f"http://127.0.0.1:{self.dst.port}")
        self.src.ready_statuses = (401,)   # auth is on while the user exists
        self.src.start([b.args.ocireg, "serve", "--listen", f"127.0.0.1:{self.src.port}",
                        "--data", data, "--access-log", "false"])
        st, out = ecr_call(self.src.port, key, "PutReplicationConfiguration", {
            "replicationConfiguration": {"rules": [{
                "destinations": [{"region": DEST[0], "registryId": DEST[1]}],
                "repositoryFilters": [{"filter": "rep", "filterType": "PREFIX_MATCH"}]}]}})
        if st != 200:
            raise RuntimeError(f"PutReplicationConfiguration: {st} {out}")
        self.src.stop()
        cli("user", "del", "bench")
        self.src.ready_statuses = (200,)
        self.src.launch(b.args.ocireg)

    def load(self, name, repos, n):
        """8 pushing clients (loadgen pushimages, one process per repository, 8 clients in
        all) pushing n images, with images pushed one at a time beside them for their lag."""
        b = self.b
        stop, beside = threading.Event(), []
        marker = threading.Thread(target=lambda: beside.extend(
            lags(self.src, self.dst, f"rep/{name}-marker", 10 ** 6, "m", stop)))
        per = n // len(repos)
        t0 = time.monotonic()
        marker.start()
        procs = [subprocess.Popen([b.loadgen, "pushimages", "--port", str(self.src.port),
                                   "--repo", repo, "--images", str(per), "--clients",
                                   str(8 // len(repos)), "--nonce", str(b.nonce()), "--prefix",
                                   "l", "--deadline", "120"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for repo in repos]
        outs = [p.communicate(timeout=180) for p in procs]
        t_pushed = time.monotonic()
        stop.set()
        marker.join(60)
        errors = 0
        for out, err in outs:
            if err.strip():
                log("    " + err.strip()[:500])
            lines = out.strip().splitlines()
            errors += json.loads(lines[-1]).get("errors", 0) if lines else 1
        hd = Http(self.dst.port)
        deadline = time.monotonic() + 120
        # drained when every tag (loadgen tags them PREFIX-i) is in its repository's tag list
        # at the destination: one request per repository and poll, so that the time does not
        # include ~1,000 GETs one after another (0.1-0.2 s on loopback, as long as the tail);
        # then, untimed, every one of them must also be readable by tag.
        drained = wait_listed(hd, {repo: {f"l-{i}" for i in range(per)} for repo in repos},
                              deadline)
        t_check = time.monotonic()
        done = drained is not None and all(wait_readable(hd, repo, f"l-{i}", deadline)
                                           for repo in repos for i in range(per))
        check_s = time.monotonic() - t_check
        drained = drained or time.monotonic()
        f = {"beside": beside, "n": per * len(repos), "repos": len(repos), "errors": errors,
             "push_s": per * len(repos) / (t_pushed - t0), "all": done,
             "repl_s": per * len(repos) / (drained - t0) if done else 0.0,
             "tail_s": drained - t_pushed}
        log(f"    {name}: lag beside p50 {pct(beside, 50):.1f} ms p99 {pct(beside, 99):.1f} ms "
            f"({len(beside)} images); push {f['push_s']:.1f} images/s, replicated "
            f"{f['repl_s']:.1f} images/s (all {f['n']}: {done}; {f['tail_s']:.2f} s after the "
            f"last push; {errors} push errors; checking each by tag afterwards took "
            f"{check_s:.2f} s)")
        return f

    def run(self):
        b = self.b
        idle_n = 40 if b.quick else 100
        n = 400 if b.quick else 1000
        self.idle = lags(self.src, self.dst, "rep/idle", idle_n, "i")
        log(f"    idle lag p50 {pct(self.idle, 50):.1f} ms p99 {pct(self.idle, 99):.1f} ms "
            f"({idle_n} images)")
        self.spread = self.load("spread", [f"rep/load{k}" for k in range(8)], n)
        self.one = self.load("one", ["rep/one"], n)

    def stop(self):
        for s in (getattr(self, "src", None), getattr(self, "dst", None)):
            if s is not None:
                s.stop()

    def section(self):
        idle = self.idle
        rows = [("replication lag, idle queue, p50", "ms", pct(idle, 50), "", ""),
                ("replication lag, idle queue, p99", "ms", pct(idle, 99),
                 "< 1 s (loopback)", "yes" if pct(idle, 99) < 1000 else "**no**")]
        for f, where in ((self.spread, "8 repositories, 1 client each"),
                         (self.one, "1 repository")):
            keeps = f["all"] and f["repl_s"] >= 0.9 * f["push_s"]
            rows += [
                (f"replication lag beside 8 pushing clients ({where}), p50", "ms",
                 pct(f["beside"], 50), "", ""),
                (f"replication lag beside 8 pushing clients ({where}), p99", "ms",
                 pct(f["beside"], 99), "", ""),
                (f"push throughput, 8 clients, {f['n']} small images ({where})", "images/s",
                 f["push_s"], "", ""),
                ("replication throughput of those (first push → last listed at the destination)",
                 "images/s", f["repl_s"], "≥ 0.9 × push (keeps up)",
                 "yes" if keeps else "**no**"),
                ("replication tail after the last push acknowledged", "s", f["tail_s"], "", ""),
            ]
        lines = [
            "## Replication (issue 21)",
            "",
            "`bench/run.sh --only replication` (bench/replication.py): a source ocireg whose "
            "rules replicate `rep/` to a second ocireg on 127.0.0.1 (no auth on either; default "
            "outbox settings). Lag is the manifest PUT's 201 at the source → GET by tag "
            "answering 200 at the destination (polled every ms), for small images (config + "
            f"1 KiB layer): {len(idle)} pushed one at a time on an idle queue, then more pushed "
            "one at a time while 8 loadgen clients push, once spread over 8 repositories and "
            "once into one repository (one repository's replications go in batches of up to "
            "64 images copied whole 8 at once, their tags read first so that no two copies PUT "
            "the same tag). Replication throughput counts from the first push until the last "
            "image's tag is in its repository's tag list at the destination (polled every ms; "
            "every image is then checked readable by tag, untimed). Push errors: "
            f"{self.spread['errors']} / {self.one['errors']}.",
            "",
            "| figure | unit | ocireg | goal | met |",
            "|---|---|---|---|---|",
        ]
        for label, unit, v, goal, met in rows:
            lines.append(f"| {label} | {unit} | {v:.2f} | {goal} | {met} |")
        return "\n".join(lines) + "\n"


def write_section(path, text):
    """Replaces the "## Replication" section of path (up to the next "## "), or appends it."""
    try:
        old = open(path).read()
    except FileNotFoundError:
        old = "# ocireg benchmark results\n\n"
    start = old.find("## Replication (issue 21)")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 3)
        new = old[:start] + text + (old[end + 1:] if end >= 0 else "")
    with open(path, "w") as f:
        f.write(new)


def main(args):
    """The replication scenario alone (its own temp folder), its section written into
    args.out (the other sections of that file stay as they are)."""
    import shutil
    from bench import Bench
    b = Bench(args)
    r = ReplicationBench(b)
    try:
        log("== replication")
        r.setup()
        r.run()
    finally:
        r.stop()
        if not args.keep:
            shutil.rmtree(b.workdir, ignore_errors=True)
    text = r.section()
    log(text)
    write_section(args.out, text)
    log(f"wrote the replication section of {args.out}")
