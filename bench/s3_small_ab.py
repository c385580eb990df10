#!/usr/bin/env python3
"""Small-image push on RGW + PostgreSQL, two ocireg binaries side by side (issue 19's "at least
doubles" point, and A/B checks of index or S3 changes): one PostgreSQL and one radosgw from
tests/engines.py, a database and a bucket per binary, then rounds of loadgen pushimages with 1
and 8 clients, the order alternating each round. Runs long enough (--images per run) that the
rate is not the first requests' latency, which bench.py --s3's 30-image runs are (it keeps them
short for distribution, which pushes under one image a second there).
Usage: bench/s3_small_ab.py --a BIN [--b BIN] [--rounds N] [--images N]. Prints each run and the
sorted rates per binary and client count. Servers on 127.0.0.1, stopped by PID."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import Ocireg, S3Engines  # noqa: E402


class Engines:
    """What Ocireg.launch reads: the shared radosgw, a database and a bucket of its own."""

    def __init__(self, s3, name):
        self.rgw = s3.rgw
        self.pg_url = s3.pg.new_database("ab_" + name)
        self.ocireg_bucket = "ab-" + name
        s3.rgw.make_bucket(self.ocireg_bucket)


def build_loadgen(folder):
    path = os.path.join(folder, "loadgen")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-pthread", "-o", path,
                    os.path.join(HERE, "loadgen.c"), "-lcrypto"], check=True)
    return path


def push(loadgen, port, clients, images, nonce):
    out = subprocess.run([loadgen, "pushimages", "--port", str(port), "--repo", "small/push",
                          "--images", str(images), "--clients", str(clients), "--nonce",
                          str(nonce), "--prefix", f"n{nonce}c{clients}", "--deadline", "120"],
                         capture_output=True, text=True, timeout=180, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="an ocireg binary")
    ap.add_argument("--b", help="another, run in alternation with the first")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--images", type=int, default=600)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ocireg-s3ab-")
    s3 = S3Engines(work, memstore_bytes=2048 * 1024 * 1024)
    servers, rates, nonce = {}, {}, 0
    try:
        s3.start()
        loadgen = build_loadgen(work)
        for name, binary in (("a", args.a), ("b", args.b)):
            if binary:
                servers[name] = Ocireg(name, work)
                servers[name].launch(os.path.abspath(binary), Engines(s3, name))
        for rnd in range(args.rounds):
            for clients in (1, 8):
                order = sorted(servers) if rnd % 2 == 0 else sorted(servers, reverse=True)
                for name in order:
                    nonce += 1
                    r = push(loadgen, servers[name].port, clients, args.images, nonce)
                    if r["errors"]:
                        raise RuntimeError(f"{name}: {r['errors']} failed pushes")
                    rates.setdefault((name, clients), []).append(r["images_s"])
                    print(f"round {rnd} {name} {clients} clients: {r['images_s']:.0f} images/s, "
                          f"p99 {r['p99_ms']:.1f} ms", flush=True)
        for (name, clients), v in sorted(rates.items()):
            print(f"{name} ({servers[name].binary}), {clients} clients: "
                  + ", ".join(f"{x:.0f}" for x in sorted(v)) + " images/s")
    finally:
        for o in servers.values():
            o.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
