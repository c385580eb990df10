#!/usr/bin/env python3
"""Auth cost on the pull path, for issue 6: with auth on, a pull with a valid token must stay
within 10% of the no-auth rate. Starts two ocireg servers on 127.0.0.1, one without auth and
one with a user, pushes the same image to both, takes a bearer token from the second one's
/token, then measures the pull requests (manifest GET by tag, blob GET of a 4 KiB layer) with
wrk: 64 connections, interleaved pairs, medians. Every response must be 2xx, so a refused
token cannot pass for a fast one. Prints a table and appends it to bench/RESULTS.md unless
--no-write. Usage: bench/auth.py [--duration S] [--reps N] [--no-write]."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from scale import OCIREG, Seeder, append_results, request, start_ocireg, wrk_options, wrk_rate

USER, PASSWORD, REPO = "bench", "bench-password", "bench/app"


def cli(*args, stdin=None):
    subprocess.run([OCIREG, *args], input=stdin, text=True, check=True, capture_output=True,
                   timeout=60)


def bearer_token(base):
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    _, _, body = request(f"{base}/token?service=ocireg&scope=repository:{REPO}:pull,push",
                         headers={"Authorization": f"Basic {basic}"})
    return json.loads(body)["token"]


def push_image(seeder, headers):
    """The seeder's image as REPO:v1, with the given headers on every request."""
    for blob in (seeder.config, seeder.layer):
        request(f"{seeder.base}/v2/{REPO}/blobs/uploads/?digest={seeder.digest(blob)}", "POST",
                blob, headers)
    request(f"{seeder.base}/v2/{REPO}/manifests/v1", "PUT", seeder.manifest,
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json", **headers})


def main():
    args = wrk_options(reps=4)
    tmp = tempfile.mkdtemp(prefix="ocireg-auth-")
    open_data, auth_data = os.path.join(tmp, "open"), os.path.join(tmp, "auth")
    cli("user", "add", USER, "--password-stdin", "--data", auth_data, stdin=PASSWORD + "\n")
    cli("grant", USER, "bench/*", "pull,push", "--data", auth_data)
    log = open(os.path.join(tmp, "servers.log"), "ab")
    servers = []
    results = {}
    try:
        servers.append(start_ocireg(open_data, log))
        servers.append(start_ocireg(auth_data, log))
        (_, open_base), (_, auth_base) = servers
        token = bearer_token(auth_base)
        layer = os.urandom(4096)
        targets = {"without auth": (Seeder(open_base, layer), {}),
                   "with a token": (Seeder(auth_base, layer),
                                    {"Authorization": f"Bearer {token}"})}
        for seeder, headers in targets.values():
            push_image(seeder, headers)
        paths = {"manifest GET by tag": f"/v2/{REPO}/manifests/v1",
                 "blob GET, 4 KiB layer": f"/v2/{REPO}/blobs/{Seeder.digest(layer)}"}
        accept = "Accept: application/vnd.oci.image.manifest.v1+json"
        for rep in range(args.reps):
            order = list(targets.items())
            if rep % 2:
                order.reverse()
            for label, (seeder, headers) in order:
                lines = [accept] + [f"{k}: {v}" for k, v in headers.items()]
                for name, path in paths.items():
                    rate, errors = wrk_rate(seeder.base + path, args.duration, lines)
                    results.setdefault(name, {}).setdefault(label, []).append((rate, errors))
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["| request | without auth, req/s | with a token, req/s | ratio | errors | target | met |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        med = {k: sorted(x for x, _ in v)[len(v) // 2] for k, v in r.items()}
        errors = sum(e for v in r.values() for _, e in v)
        ratio = med["with a token"] / med["without auth"] if med["without auth"] else 0
        met = ratio >= 0.9 and errors == 0
        lines.append(f"| {name} | {med['without auth']:,.0f} | {med['with a token']:,.0f} | "
                     f"{ratio:.2f} | {errors} | >= 0.90, no errors | {'yes' if met else '**no**'} |")
    table = "\n".join(lines)
    print(table)
    print(f"(wrk {args.reps} interleaved pairs x {args.duration} s, 64 connections, medians)")
    if not args.no_write:
        append_results("Auth on the pull path", "auth.py", table)


if __name__ == "__main__":
    sys.exit(main())
