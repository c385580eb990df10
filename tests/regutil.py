"""Helpers for the operations suites (gc, repositories, lifecycle): push blobs and images over
the Distribution API with requests, pull them back and compare bytes, look at the blob files of
a data folder, and run the ocireg admin commands (gc with --json parsed)."""
import hashlib
import json
import os
import sqlite3
import subprocess
import time

import requests

from ocireg_harness import ocireg_binary

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
TIMEOUT = 30


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- the ocireg command line ----

def ocireg(*args, stdin=None, check=True, timeout=60):
    """Run `ocireg ARGS...`; with check, a non-zero exit fails the test with its stderr."""
    proc = subprocess.run([ocireg_binary(), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ocireg {' '.join(map(str, args))} exited with {proc.returncode}, "
                             f"expected 0: {proc.stderr}")
    return proc


def gc(data, *args, check=True):
    """Run `ocireg gc --json ARGS --data DATA` and return its report as a dict."""
    proc = ocireg("gc", "--json", *args, "--data", data, check=check)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"gc --json printed no JSON report: {proc.stdout!r} {proc.stderr!r}")


def cli_json(*args):
    proc = ocireg(*args)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"ocireg {' '.join(map(str, args))} printed no JSON: {proc.stdout!r}")


def settle():
    """Wait until the clock has moved on to a new whole second, so that everything pushed so
    far is strictly older than a gc started now (times are stored in whole seconds)."""
    start = int(time.time())
    while int(time.time()) <= start:
        time.sleep(0.05)


# ---- data folder ----

def blob_path(data, digest):
    alg, hexpart = digest.split(":", 1)
    return os.path.join(str(data), "blobs", alg, hexpart[:2], hexpart)


def blob_files(data):
    """{digest: size} of every blob file in the data folder."""
    out = {}
    root = os.path.join(str(data), "blobs")
    for alg in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        for sub in sorted(os.listdir(os.path.join(root, alg))):
            folder = os.path.join(root, alg, sub)
            if not os.path.isdir(folder) or len(sub) != 2:
                continue
            for name in os.listdir(folder):
                if not name.startswith("."):
                    out[f"{alg}:{name}"] = os.path.getsize(os.path.join(folder, name))
    return out


def tree_snapshot(path):
    """{relative path: (size, mtime_ns, sha256)} of every file under path."""
    snap = {}
    for dirpath, _, files in os.walk(str(path)):
        for name in files:
            full = os.path.join(dirpath, name)
            st = os.stat(full)
            with open(full, "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
            snap[os.path.relpath(full, str(path))] = (st.st_size, st.st_mtime_ns, h)
    return snap


def place_orphan(data, content, age_seconds=0):
    """Write a valid blob file the index does not know; return its digest."""
    d = digest_of(content)
    path = blob_path(data, d)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)
    if age_seconds:
        past = time.time() - age_seconds
        os.utime(path, (past, past))
    return d


def db(data):
    """A read-only connection to DATA/meta.db."""
    conn = sqlite3.connect(f"file:{os.path.join(str(data), 'meta.db')}?mode=ro", uri=True,
                           timeout=15)
    conn.execute("PRAGMA busy_timeout = 15000")
    return conn


def server_log(server, chars=3000):
    try:
        with open(os.path.join(server.data, "server.log"), "rb") as f:
            return f.read()[-chars:].decode(errors="replace")
    except OSError:
        return ""


# ---- pushing ----

class Image:
    """What push_image sent: manifest bytes and digest, and every blob by digest."""

    def __init__(self, repo, tag, manifest, media_type, blobs, config=None, layers=()):
        self.repo = repo
        self.tag = tag
        self.manifest = manifest
        self.media_type = media_type
        self.digest = digest_of(manifest)
        self.blobs = dict(blobs)          # digest -> bytes (config and layers)
        self.config = config              # digest of the config
        self.layers = list(layers)        # digests of the layers

    @property
    def size(self):
        return len(self.manifest)

    def all_digests(self):
        return {self.digest, *self.blobs}


def push_blob(url, repo, data, session=None, check=True):
    """Monolithic upload (POST ?digest=). Returns (digest, response)."""
    s = session or requests
    d = digest_of(data)
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data,
               headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    if check:
        assert r.status_code == 201, f"push of blob {d} to {repo}: expected 201, got " \
                                     f"{r.status_code} {r.text}"
    return d, r


def descriptor(media_type, data, **extra):
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image_manifest(config, layers, subject=None, artifact_type=None, config_type=OCI_CONFIG,
                   annotations=None):
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": descriptor(config_type, config),
           "layers": [descriptor(OCI_LAYER, layer) for layer in layers]}
    if artifact_type:
        doc["artifactType"] = artifact_type
    if subject is not None:
        doc["subject"] = {"mediaType": subject.media_type, "digest": subject.digest,
                          "size": subject.size}
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc, sort_keys=True).encode()


def put_manifest(url, repo, ref, body, media_type=OCI_MANIFEST, session=None):
    s = session or requests
    return s.put(f"{url}/v2/{repo}/manifests/{ref}", data=body,
                 headers={"Content-Type": media_type}, timeout=TIMEOUT)


def push_image(url, repo, tag=None, layers=(b"layer",), config=None, subject=None,
               artifact_type=None, config_type=OCI_CONFIG, session=None):
    """Push config + layers + an OCI image manifest, by tag (or by digest when tag is None).
    Returns an Image."""
    if config is None:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "ocireg-test": [repo, tag, time.time()]}).encode()
    blobs = {}
    for data in (config, *layers):
        d, _ = push_blob(url, repo, data, session)
        blobs[d] = data
    manifest = image_manifest(config, layers, subject, artifact_type, config_type)
    img = Image(repo, tag, manifest, OCI_MANIFEST, blobs, digest_of(config),
                [digest_of(x) for x in layers])
    r = put_manifest(url, repo, tag or img.digest, manifest, session=session)
    assert r.status_code == 201, f"manifest PUT {repo}:{tag or img.digest}: expected 201, got " \
                                 f"{r.status_code} {r.text}"
    assert r.headers.get("Docker-Content-Digest") == img.digest
    return img


def push_index(url, repo, tag, children, session=None):
    """Push an OCI image index listing the given Images (one platform each)."""
    arch = ["amd64", "arm64", "s390x", "ppc64le", "riscv64"]
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": c.media_type, "digest": c.digest, "size": c.size,
         "platform": {"architecture": arch[i % len(arch)], "os": "linux"}}
        for i, c in enumerate(children)]}
    body = json.dumps(doc, sort_keys=True).encode()
    idx = Image(repo, tag, body, OCI_INDEX, {})
    r = put_manifest(url, repo, tag or idx.digest, body, OCI_INDEX, session)
    assert r.status_code == 201, f"index PUT {repo}:{tag}: expected 201, got {r.status_code} " \
                                 f"{r.text}"
    return idx


def delete_tag(url, repo, tag):
    r = requests.delete(f"{url}/v2/{repo}/manifests/{tag}", timeout=TIMEOUT)
    assert r.status_code == 202, f"DELETE tag {repo}:{tag}: expected 202, got {r.status_code} " \
                                 f"{r.text}"


# ---- pulling ----

def manifest_status(url, repo, ref):
    return requests.get(f"{url}/v2/{repo}/manifests/{ref}", timeout=TIMEOUT,
                        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}).status_code


def blob_status(url, repo, digest):
    return requests.get(f"{url}/v2/{repo}/blobs/{digest}", timeout=TIMEOUT).status_code


def pull_problems(url, img, ref=None, session=None):
    """Pull img's manifest (by tag or digest) and every blob; return a list of what differs
    (empty when everything came back bit-exact)."""
    s = session or requests
    ref = ref or img.tag or img.digest
    problems = []
    r = s.get(f"{url}/v2/{img.repo}/manifests/{ref}", timeout=TIMEOUT,
              headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
    if r.status_code != 200:
        return [f"manifest {img.repo}:{ref}: expected 200, got {r.status_code} {r.text[:200]}"]
    if r.content != img.manifest:
        problems.append(f"manifest {img.repo}:{ref}: bytes differ from what was pushed")
    for d, data in img.blobs.items():
        r = s.get(f"{url}/v2/{img.repo}/blobs/{d}", timeout=TIMEOUT)
        if r.status_code != 200:
            problems.append(f"blob {img.repo}@{d}: expected 200, got {r.status_code}")
        elif digest_of(r.content) != d or r.content != data:
            problems.append(f"blob {img.repo}@{d}: content has sha256 {digest_of(r.content)}")
    return problems


def assert_pulls(url, img, ref=None):
    problems = pull_problems(url, img, ref)
    assert not problems, "expected the image to pull back bit-exact: " + "; ".join(problems)


def location(url, response):
    """The absolute URL of a response's Location header."""
    loc = response.headers["Location"]
    return loc if "://" in loc else url + loc
