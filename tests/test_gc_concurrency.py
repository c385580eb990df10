"""`ocireg gc --untagged --grace 0` in a loop while clients push and pull: no committed image
may lose a byte, and no request may fail with a 5xx. Bounded: DURATION seconds of load, at
most MAX_IMAGES pushes per client."""
import json
import random
import subprocess
import threading
import time

import requests

from ocireg_harness import ocireg_binary
from regutil import (digest_of, image_manifest, pull_problems, push_blob,
                     put_manifest, server_log, Image, OCI_MANIFEST)

DURATION = 15
CLIENTS = 8
MAX_IMAGES = 400
SHARED_LAYERS = [(b"shared base layer %d\n" % i) * 400 for i in range(3)]


class Recorder(requests.Session):
    """A session that remembers every 5xx answer and every failed connection."""

    def __init__(self, failures, lock):
        super().__init__()
        self.failures = failures
        self.lock = lock

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        try:
            r = super().request(method, url, *args, **kwargs)
        except requests.RequestException as e:
            with self.lock:
                self.failures.append(f"{method} {url}: {e!r}")
            raise
        if r.status_code >= 500:
            with self.lock:
                self.failures.append(f"{method} {url}: {r.status_code} {r.text[:200]}")
        return r


class Load:
    def __init__(self, url, deadline):
        self.url = url
        self.deadline = deadline
        self.lock = threading.Lock()
        self.committed = []        # Images whose manifest PUT got 201 and whose tag stays
        self.server_errors = []    # 5xx answers and dropped connections
        self.lost = []             # committed images that failed to pull during the run
        self.put_statuses = {}
        self.garbage = 0

    def client(self, n):
        s = Recorder(self.server_errors, self.lock)
        rnd = random.Random(n)
        try:
            for i in range(MAX_IMAGES):
                if time.monotonic() >= self.deadline:
                    break
                self.push_one(s, n, i)
                self.pull_some(s, rnd)
        except requests.RequestException:
            pass  # already recorded by the session
        finally:
            s.close()

    def push_one(self, s, n, i):
        repo = f"load/client{n % 4}"
        config = json.dumps({"architecture": "amd64", "os": "linux", "client": n,
                             "image": i}).encode()
        layers = [(b"client %d image %d\n" % (n, i)) * 60, SHARED_LAYERS[(n + i) % 3]]
        blobs = {}
        for data in (config, *layers):
            d, r = push_blob(self.url, repo, data, session=s, check=False)
            if r.status_code != 201:
                return
            blobs[d] = data
        temporary = i % 4 == 3            # pushed, then untagged: garbage for gc to take
        tag = f"{'tmp' if temporary else 'keep'}-{n}-{i}"
        manifest = image_manifest(config, layers)
        r = put_manifest(self.url, repo, tag, manifest, session=s)
        key = r.status_code if r.status_code in (201,) or r.status_code >= 500 else \
            f"{r.status_code} {error_code(r)}"
        with self.lock:
            self.put_statuses[key] = self.put_statuses.get(key, 0) + 1
        if r.status_code != 201:
            return
        img = Image(repo, tag, manifest, OCI_MANIFEST, blobs, digest_of(config),
                    [digest_of(x) for x in layers])
        if temporary:
            r = s.delete(f"{self.url}/v2/{repo}/manifests/{tag}")
            with self.lock:
                self.garbage += r.status_code == 202
        else:
            with self.lock:
                self.committed.append(img)

    def pull_some(self, s, rnd):
        with self.lock:
            if not self.committed:
                return
            img = rnd.choice(self.committed)
        problems = pull_problems(self.url, img, session=s)
        if problems:
            with self.lock:
                self.lost.append((img.repo, img.tag, problems))


def error_code(r):
    try:
        return r.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return r.text[:100]


def gc_loop(data, deadline, runs):
    while time.monotonic() < deadline:
        proc = subprocess.run([ocireg_binary(), "gc", "--untagged", "--grace", "0", "--json",
                               "--data", str(data)], capture_output=True, text=True, timeout=30)
        try:
            report = json.loads(proc.stdout) if proc.returncode == 0 else None
        except ValueError:
            report = None
        runs.append((proc.returncode, proc.stderr.strip()[-300:], report))
        time.sleep(0.05)


def test_gc_loop_during_pushes_and_pulls_keeps_every_committed_image(registry_factory):
    srv = registry_factory()
    deadline = time.monotonic() + DURATION
    load = Load(srv.url, deadline)
    runs = []
    threads = [threading.Thread(target=load.client, args=(n,)) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=gc_loop, args=(srv.data, deadline, runs)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(DURATION + 60)
    assert not any(t.is_alive() for t in threads), "load or gc threads did not finish in time"

    log = server_log(srv)
    failed_gc = [r for r in runs if r[0] != 0 or r[2] is None]
    assert not failed_gc, f"every gc run should succeed: {failed_gc[:3]}"
    assert len(runs) >= 3, f"expected several gc runs during the load, got {len(runs)}"
    collected = sum(r[2]["manifests_deleted"] for r in runs)
    assert load.garbage and collected, \
        f"the run should have made and collected garbage ({load.garbage} untagged, " \
        f"{collected} manifests collected)"
    assert len(load.committed) >= 40, \
        f"expected at least 40 committed images, got {len(load.committed)}; PUT statuses " \
        f"{load.put_statuses}"
    refused = {k for k in load.put_statuses if k != 201}
    assert refused <= {"400 MANIFEST_BLOB_UNKNOWN"}, \
        "a manifest PUT may only be refused because gc took a blob pushed before it " \
        f"(grace 0); PUT statuses: {load.put_statuses}"
    assert not load.server_errors, \
        f"no request should get a 5xx or a dropped connection: {load.server_errors[:5]}\n{log}"
    assert not load.lost, \
        f"committed images failed to pull during the run: {load.lost[:3]}\n{log}"

    final = subprocess.run([ocireg_binary(), "gc", "--untagged", "--grace", "0", "--json",
                            "--data", str(srv.data)], capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    broken = []
    with requests.Session() as s:
        for img in load.committed:
            problems = pull_problems(srv.url, img, session=s) + \
                pull_problems(srv.url, img, img.digest, session=s)
            if problems:
                broken.append((img.repo, img.tag, problems))
    assert not broken, \
        f"{len(broken)} of {len(load.committed)} images whose manifest PUT got 201 do not " \
        f"pull back bit-exact: {broken[:3]}\n{server_log(srv)}"
