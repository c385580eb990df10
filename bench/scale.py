#!/usr/bin/env python3
"""Scale check for issue 6: a catalog page and a tags page (n=100) must keep >= 2/3 of their
request rate when the registry grows from 201 repositories / 1,001 tags to 10,000 repositories /
100,000 tags in one repository. Starts its own ocireg on 127.0.0.1, seeds it through the HTTP
API, measures with wrk (bounded runs), prints a table and appends it to bench/RESULTS.md unless
--no-write. Usage: bench/scale.py [--duration S] [--reps N]."""
import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OCIREG = os.path.join(ROOT, "build", "ocireg")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, method="GET", data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, dict(r.headers), r.read()


def wait_up(base, seconds=10):
    """Wait until base/v2/ answers; a 401 counts (listening, and asking for a token)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            request(f"{base}/v2/")
            return
        except OSError as e:
            if getattr(e, "code", None) == 401:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{base} did not start") from e
            time.sleep(0.05)


def start_ocireg(data, log=subprocess.DEVNULL, binary=OCIREG):
    """(process, base URL) of an ocireg serving data on a free 127.0.0.1 port, once it answers
    (the scale, gc, auth and console checks share this)."""
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data,
                             "--access-log", "false"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base)
    except RuntimeError:
        proc.kill()
        raise
    return proc, base


def wrk_options(reps):
    """The wrk checks' options: --duration S (one wrk run), --reps N, --no-write."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--no-write", action="store_true")
    return ap.parse_args()


class Seeder:
    """Pushes one tiny image per repository (shared blobs) and tags in bulk."""

    def __init__(self, base, layer=b"scale layer"):
        self.base = base
        self.config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        self.layer = layer
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": self.digest(self.config), "size": len(self.config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": self.digest(self.layer), "size": len(self.layer)}]}).encode()

    @staticmethod
    def digest(data):
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def repo(self, name, tags=("v1",)):
        for blob in (self.config, self.layer):
            request(f"{self.base}/v2/{name}/blobs/uploads/?digest={self.digest(blob)}", "POST",
                    blob)
        query = "&".join(f"tag={t}" for t in tags)
        request(f"{self.base}/v2/{name}/manifests/{self.digest(self.manifest)}?{query}", "PUT",
                self.manifest, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})

    def repos(self, first, last, threads=8):
        names = [f"scale/r{i:05d}" for i in range(first, last)]
        chunks = [names[i::threads] for i in range(threads)]
        workers = [threading.Thread(target=lambda c=c: [self.repo(n) for n in c])
                   for c in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def tags(self, repo, first, last):
        for start in range(first, last, 64):
            self.repo(repo, [f"t{i:06d}" for i in range(start, min(last, start + 64))])


def wrk_rate(url, duration, headers=()):
    """(req/s, non-2xx count) of one bounded wrk run, 64 connections."""
    extra = [arg for h in headers for arg in ("-H", h)]
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{duration}s", *extra, url],
                         capture_output=True, text=True, timeout=duration + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(m.group(1)) if m else 0.0, int(errors.group(1)) if errors else 0


def append_results(title, script, text, path=None):
    """Add "## title (bench/script, date)" and text to bench/RESULTS.md or path (the scale, gc,
    auth and console checks share this)."""
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    with open(path or os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
        f.write(f"\n## {title} (bench/{script}, {when})\n\n{text}\n")


def measure(base, label, duration, reps, results, repos, tags):
    """The deep pages start 75% into the catalog (201 or 10,000 repositories) and 90% into the
    tag list (1,001 or 100,000 tags), so the small and the large set page equally deep."""
    urls = {"catalog ?n=100": f"{base}/v2/_catalog?n=100",
            "catalog ?n=100 deep page": f"{base}/v2/_catalog?n=100&last=scale/r{repos * 3 // 4:05d}",
            "tags ?n=100": f"{base}/v2/scale/big/tags/list?n=100",
            "tags ?n=100 deep page":
                f"{base}/v2/scale/big/tags/list?n=100&last=t{tags * 9 // 10:06d}"}
    for name, url in urls.items():
        rates = [wrk_rate(url, duration) for _ in range(reps)]
        results.setdefault(name, {})[label] = (sorted(r for r, _ in rates)[len(rates) // 2],
                                               sum(e for _, e in rates))


def main():
    args = wrk_options(reps=3)
    tmp = tempfile.mkdtemp(prefix="ocireg-scale-")
    proc, base = start_ocireg(os.path.join(tmp, "data"))
    try:
        s = Seeder(base)
        t0 = time.time()
        s.repos(0, 200)
        s.tags("scale/big", 0, 1001)
        results = {}
        measure(base, "small", args.duration, args.reps, results, 200, 1001)
        s.repos(200, 9999)
        s.tags("scale/big", 1001, 100000)
        seeded = time.time() - t0
        measure(base, "large", args.duration, args.reps, results, 9999, 100000)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["| page | 201 repos / 1,001 tags, req/s | 10,000 repos / 100,000 tags, req/s | "
             "ratio | target | met |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        small, large = r["small"][0], r["large"][0]
        ratio = large / small if small else 0
        lines.append(f"| {name} | {small:,.0f} | {large:,.0f} | {ratio:.2f} | >= 0.67 | "
                     f"{'yes' if ratio >= 2 / 3 else '**no**'} |")
    table = "\n".join(lines)
    print(table)
    print(f"(seeding took {seeded:.0f} s; wrk {args.reps} x {args.duration} s, 64 connections, "
          f"medians; errors: {sum(v[1] for r in results.values() for v in r.values())})")
    if not args.no_write:
        append_results("Scale", "scale.py", table)


if __name__ == "__main__":
    sys.exit(main())
