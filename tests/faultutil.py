"""Helpers for the fault suites (test_faults_crash, test_faults_disk, test_faults_hostile):
push images blob by blob (monolithic or in several PATCHes), remember only what is needed to
check them later (manifest bytes, blob digests and sizes), verify pulls by streaming sha256,
run `ocireg fsck --json`, mount small file systems, and read a server's log tail."""
import hashlib
import json
import os
import subprocess
import time

from ocireg_harness import ocireg_binary, vm_hwm_kib  # noqa: F401 (test_faults_hostile)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
TIMEOUT = 30
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def log_tail(server, chars=3000):
    try:
        with open(server.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def log_diagnostics(server, lines=25, scan=4 << 20):
    """The last diagnostic (non access-log) lines of a server's log."""
    try:
        with open(server.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - scan))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join([x for x in text.splitlines() if x and not x.startswith("{")][-lines:])


def error_code(r):
    try:
        return r.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return r.text[:100]


def error_message(r):
    try:
        return r.json()["errors"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


# ---- what was pushed ----

class Pushed:
    """An image whose manifest PUT got 201: its manifest bytes and every blob's digest and size
    (blob bytes are not kept: pulls are checked by streaming sha256)."""

    def __init__(self, repo, tag, manifest, blobs, origin=""):
        self.repo = repo
        self.tag = tag
        self.manifest = manifest
        self.digest = digest_of(manifest)
        self.blobs = dict(blobs)      # digest -> size
        self.origin = origin          # e.g. "round 7 client 2 image 3"
        self.tag_deleted = False      # DELETE of the tag got 202
        self.deleted = False          # DELETE of the manifest (by digest) got 202
        self.ambiguous = False        # a DELETE got no answer (the server died under it)

    def __repr__(self):
        return f"<{self.repo}:{self.tag} {self.digest} ({self.origin})>"


def image_manifest(config, layers):
    """Manifest bytes for config + layers (each bytes), as push order expects."""
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config),
                      "size": len(config)},
           "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(x), "size": len(x)}
                      for x in layers]}
    return json.dumps(doc, sort_keys=True).encode()


def absolute(url, r):
    loc = r.headers["Location"]
    return loc if "://" in loc else url + loc


def range_end(r):
    """The last byte offset of a Range: 0-N header (N), or None when absent/garbled."""
    value = r.headers.get("Range", "")
    if not value.startswith("0-"):
        return None
    try:
        return int(value[2:])
    except ValueError:
        return None


def push_monolithic(s, url, repo, data):
    return s.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": digest_of(data)},
                  data=data, headers={"Content-Type": "application/octet-stream"},
                  timeout=TIMEOUT)


def push_chunked(s, url, repo, data, parts, progress=None):
    """POST, `parts` PATCHes with Content-Range, PUT ?digest=. progress(dict) is called with
    {"location", "acked"} after the POST and after each acknowledged PATCH, so a caller can
    resume the session later. Returns the last response (201 on success)."""
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
    if r.status_code != 202:
        return r
    loc = absolute(url, r)
    state = {"location": loc, "acked": 0, "repo": repo, "data": data}
    if progress:
        progress(state)
    step = max(1, -(-len(data) // parts))
    offset = 0
    while offset < len(data):
        chunk = data[offset:offset + step]
        r = s.patch(loc, data=chunk, timeout=TIMEOUT, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        if r.status_code != 202:
            return r
        offset += len(chunk)
        loc = absolute(url, r)
        state["location"], state["acked"] = loc, offset
        if progress:
            progress(state)
    sep = "&" if "?" in loc else "?"
    return s.put(f"{loc}{sep}digest={digest_of(data)}", timeout=TIMEOUT)


def resume_upload(s, url, state):
    """Continue an upload session after a crash: GET its status, PATCH the rest from the
    server's offset, PUT ?digest=. Returns (outcome, detail): outcome "resumed" (201),
    "unknown" (the GET said 404, or an empty session where bytes were acknowledged) or
    "failed" (with what happened)."""
    data, loc = state["data"], state["location"]
    r = s.get(loc, timeout=TIMEOUT)
    if r.status_code == 404:
        return "unknown", f"GET status 404 {error_code(r)}"
    if r.status_code != 204:
        return "failed", f"GET status: expected 204, got {r.status_code} {r.text[:200]}"
    end = range_end(r)
    if end is None:
        return "failed", f"GET status 204 without a Range 0-N header: {r.headers}"
    # "0-0" means 0 or 1 bytes (a spec ambiguity): try 0 first, then 1 after a 416.
    candidates = [0, 1] if end == 0 else [end + 1]
    if end == 0 and state["acked"] > 1:
        # An empty session where bytes were acknowledged: after a restart a finished
        # session's signed id answers as a new empty one (the server keeps no record of ids it
        # finished). The caller checks, as for an unknown one, that the blob was committed.
        return "unknown", f"GET status Range 0-0 after {state['acked']} bytes acknowledged"
    if candidates[-1] < state["acked"] or candidates[0] > len(data):
        return "failed", (f"GET status Range 0-{end}: the session holds fewer bytes than the "
                          f"{state['acked']} acknowledged, or more than the {len(data)} sent")
    loc = absolute(url, r)
    for offset in candidates:
        rest = data[offset:]
        if rest:
            r = s.patch(loc, data=rest, timeout=TIMEOUT, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(rest) - 1}"})
            if r.status_code == 416 and offset != candidates[-1]:
                continue
            if r.status_code != 202:
                return "failed", (f"PATCH from offset {offset}: expected 202, got "
                                  f"{r.status_code} {r.text[:200]}")
            loc = absolute(url, r)
        sep = "&" if "?" in loc else "?"
        r = s.put(f"{loc}{sep}digest={digest_of(data)}", timeout=TIMEOUT)
        if r.status_code != 201:
            return "failed", (f"PUT ?digest= after resuming at {offset}: expected 201, got "
                              f"{r.status_code} {r.text[:200]}")
        return "resumed", f"resumed at offset {offset} of {len(data)}"
    return "failed", "no offset accepted"


# ---- pulling ----

def blob_problem(s, url, repo, digest, size):
    """None when the blob streams back with this digest and size, else what differs."""
    h = hashlib.sha256()
    n = 0
    with s.get(f"{url}/v2/{repo}/blobs/{digest}", timeout=TIMEOUT, stream=True) as r:
        if r.status_code != 200:
            return f"blob {repo}@{digest}: expected 200, got {r.status_code} {r.text[:200]}"
        for chunk in r.iter_content(1 << 20):
            h.update(chunk)
            n += len(chunk)
    got = "sha256:" + h.hexdigest()
    if got != digest or n != size:
        return f"blob {repo}@{digest}: came back as {got} with {n} bytes (expected {size})"
    return None


def manifest_get(s, url, repo, ref):
    return s.get(f"{url}/v2/{repo}/manifests/{ref}", timeout=TIMEOUT, headers=ACCEPT)


def image_problems(s, url, img):
    """What is wrong with img on the server, given what was acknowledged about it."""
    problems = []
    if img.ambiguous:
        # A delete the server may or may not have done: the manifest is either whole or gone.
        r = manifest_get(s, url, img.repo, img.digest)
        if r.status_code == 404:
            return []
        if r.status_code != 200 or r.content != img.manifest:
            return [f"manifest {img.repo}@{img.digest} (delete unanswered): expected 200 with "
                    f"the pushed bytes or 404, got {r.status_code}"]
        return []
    if img.deleted:
        for ref in (img.digest, img.tag):
            r = manifest_get(s, url, img.repo, ref)
            if r.status_code != 404:
                problems.append(f"manifest {img.repo}:{ref} was deleted (202) but GET answers "
                                f"{r.status_code}")
        return problems
    refs = [img.digest] if img.tag_deleted else [img.tag, img.digest]
    if img.tag_deleted:
        r = manifest_get(s, url, img.repo, img.tag)
        if r.status_code != 404:
            problems.append(f"tag {img.repo}:{img.tag} was deleted (202) but GET answers "
                            f"{r.status_code}")
    for ref in refs:
        r = manifest_get(s, url, img.repo, ref)
        if r.status_code != 200:
            problems.append(f"manifest {img.repo}:{ref}: expected 200, got {r.status_code} "
                            f"{r.text[:200]}")
        elif r.content != img.manifest:
            problems.append(f"manifest {img.repo}:{ref}: bytes differ from what was pushed "
                            f"(got {digest_of(r.content)})")
    for d, size in img.blobs.items():
        p = blob_problem(s, url, img.repo, d, size)
        if p:
            problems.append(p)
    return problems


# ---- admin commands ----

def fsck(data, timeout=120):
    """Run `ocireg fsck --json --data DATA`: (exit code, report dict or None, stdout, stderr)."""
    proc = subprocess.run([ocireg_binary(), "fsck", "--json", "--data", str(data)],
                          capture_output=True, text=True, timeout=timeout)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = None
    return proc.returncode, report, proc.stdout, proc.stderr


def fsck_failures(data, allowed=("orphan-file",)):
    """[] when fsck finds nothing but allowed kinds of problem, else a description including
    fsck's whole output."""
    rc, report, out, err = fsck(data)
    if report is None or rc not in (0, 1):
        return [f"fsck exited {rc} without a JSON report: stdout {out!r} stderr {err!r}"]
    bad = [d for d in report.get("details", []) if d.get("kind") not in allowed]
    if bad or (rc == 1 and not report.get("details")):
        return [f"fsck exit {rc}, {len(bad)} unacceptable problems {bad[:10]}; full output: "
                f"{out[:4000]} {err[:1000]}"]
    if rc == 0 and not report.get("healthy"):
        return [f"fsck exited 0 but reports healthy=false: {out[:4000]}"]
    return []


# ---- mounts ----

def run(*cmd, check=True, timeout=30):
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def is_mountpoint(path):
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


def unmount(path):
    """Unmount path (lazily when it is busy); returns an error text or None."""
    if not is_mountpoint(path):
        return None
    proc = run("umount", str(path), check=False)
    if proc.returncode != 0 and is_mountpoint(path):
        proc = run("umount", "-l", str(path), check=False)
        if proc.returncode != 0:
            return proc.stderr.strip()
    return None


def mount_small_fs(path, size_mib, work_dir, kinds=("tmpfs", "ext4-loop")):
    """Mount a small file system on path: tmpfs, or else a loop-mounted ext4 image in
    work_dir (kinds limits the choice). Returns the method used ("tmpfs" or "ext4-loop");
    raises RuntimeError with the reasons when none works."""
    os.makedirs(path, exist_ok=True)
    tmpfs = None
    if "tmpfs" in kinds:
        tmpfs = run("mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path),
                    check=False)
        if tmpfs.returncode == 0:
            return "tmpfs"
    if "ext4-loop" not in kinds:
        raise RuntimeError(f"mount -t tmpfs failed ({tmpfs.stderr.strip()})")
    tmpfs_error = tmpfs.stderr.strip() if tmpfs else "not tried"
    image = os.path.join(str(work_dir), "small-fs.img")
    try:
        with open(image, "wb") as f:
            f.truncate(size_mib << 20)
        run("mkfs.ext4", "-q", "-F", "-m", "0", image)
        run("mount", "-o", "loop", image, str(path))
        return "ext4-loop"
    except (RuntimeError, OSError, FileNotFoundError) as e:
        raise RuntimeError(f"mount -t tmpfs: {tmpfs_error}; loop-mounted ext4 failed ({e})")


def fill_until_full(path, limit=256 << 20):
    """Write path until the file system is full (ENOSPC); returns the bytes written."""
    written = 0
    block = b"\xa5" * (64 << 10)
    with open(path, "wb", buffering=0) as f:
        size = len(block)
        while size >= 1 and written < limit:
            try:
                n = f.write(block[:size])
                written += n
            except OSError:
                size //= 2
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return written


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
