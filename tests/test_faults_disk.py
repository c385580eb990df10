"""Disk faults: a data folder on a small file system made by the test (tmpfs, or a loop-mounted
ext4 image when tmpfs cannot be mounted) that fills up. A blob upload that runs out of space
fails with 507 and a JSON error about space, leaves no spool behind, breaks nothing committed,
and pushes work again once space is freed (no restart). A manifest PUT on a full disk fails
cleanly and leaves its tag alone. A data folder that cannot be written makes `serve` exit
non-zero at once with a message. Everything mounted here is unmounted in a finalizer."""
import json
import os
import socket
import subprocess
import time

import pytest
import requests

from faultutil import (Pushed, blob_problem, digest_of, error_message, fill_until_full,
                       fsck_failures, image_manifest, image_problems, log_tail, mount_small_fs,
                       push_monolithic, run, unmount, OCI_MANIFEST, TIMEOUT)
from ocireg_harness import RegistryServer, free_port, ocireg_binary

FS_MIB = 64
FILLER_MIB = 12
BLOB_MIB = 4


class SmallDisk:
    """A small mounted file system holding a filler file and a server's data folder."""

    def __init__(self, tmp_path, kinds):
        self.tmp = tmp_path
        self.mnt = tmp_path / "fs"
        self.kinds = kinds
        self.method = None
        self.servers = []

    def mount(self):
        try:
            self.method = mount_small_fs(self.mnt, FS_MIB, self.tmp, self.kinds)
        except RuntimeError as e:
            pytest.skip(f"cannot make a small file system ({'/'.join(self.kinds)}) in this "
                        f"sandbox: {e}")
        with open(self.mnt / "filler", "wb") as f:
            for _ in range(FILLER_MIB):
                f.write(os.urandom(1 << 20))
            os.fsync(f.fileno())
        return self

    def server(self, extra_args=()):
        srv = RegistryServer(self.mnt / "data", ["--access-log", "false", *extra_args])
        srv.log_path = str(self.tmp / f"server{len(self.servers)}.log")   # not on the full disk
        self.servers.append(srv)
        return srv.start()

    def fill(self):
        """Fill what is left of the file system (filler2); returns the bytes written."""
        return fill_until_full(self.mnt / "filler2")

    def free(self):
        for name in ("filler", "filler2"):
            try:
                os.unlink(self.mnt / name)
            except FileNotFoundError:
                pass

    def free_bytes(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def close(self):
        for srv in self.servers:
            srv.stop()
        err = unmount(self.mnt)
        assert err is None, f"could not unmount {self.mnt}: {err}"


@pytest.fixture(params=["tmpfs", "ext4-loop"])
def small_disk(tmp_path, request):
    """tmpfs first (with the ext4 image as its fallback), and ext4 on its own as well: uploads
    are written with O_DIRECT, which fails differently on a real block file system."""
    kinds = ("tmpfs", "ext4-loop") if request.param == "tmpfs" else ("ext4-loop",)
    disk = SmallDisk(tmp_path, kinds)
    request.addfinalizer(disk.close)
    return disk.mount()


def spool_files(data):
    try:
        return set(os.listdir(os.path.join(str(data), "uploads")))
    except FileNotFoundError:
        return set()


def push_small_image(s, url, repo, tag, layer_sizes=(3000, 70000)):
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag,
                         "t": time.time()}).encode()
    layers = [os.urandom(n) for n in layer_sizes]
    for data in [config] + layers:
        r = push_monolithic(s, url, repo, data)
        assert r.status_code == 201, f"blob push: expected 201, got {r.status_code} {r.text}"
    manifest = image_manifest(config, layers)
    r = s.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest,
              headers={"Content-Type": OCI_MANIFEST}, timeout=TIMEOUT)
    assert r.status_code == 201, f"manifest PUT {repo}:{tag}: got {r.status_code} {r.text}"
    return Pushed(repo, tag, manifest, {digest_of(x): len(x) for x in [config] + layers})


def assert_space_error(r, what, srv):
    assert 500 <= r.status_code < 600, \
        f"{what} on a full disk: expected a 5xx, got {r.status_code} {r.text[:300]}"
    message = error_message(r)
    assert message is not None, \
        f"{what} on a full disk: expected a JSON error body, got {r.text[:300]!r}"
    assert "space" in message.lower(), \
        f"{what} on a full disk: the error message should mention space: {message!r}"
    assert r.status_code == 507, \
        f"{what} on a full disk: expected 507 Insufficient Storage, got {r.status_code} " \
        f"{r.text[:300]}\n{log_tail(srv)}"


def test_disk_full_blob_upload_fails_cleanly_and_recovers(small_disk):
    disk = small_disk
    srv = disk.server()
    data = srv.data
    s = requests.Session()
    committed = [push_small_image(s, srv.url, "disk/app", f"v{i}") for i in range(3)]
    committed.append(push_small_image(s, srv.url, "disk/app", "big", (1 << 20,)))
    stored_blobs = {}                 # digest -> size of big blobs pushed before the failure
    later = []                        # failures reported once everything else was checked

    # Push 4 MiB blobs until one does not fit.
    failed, before, r = None, None, None
    for i in range(FS_MIB // BLOB_MIB + 4):
        blob = os.urandom(BLOB_MIB << 20)
        before = spool_files(data)
        r = push_monolithic(s, srv.url, "disk/fill", blob)
        if r.status_code != 201:
            failed = blob
            break
        stored_blobs[digest_of(blob)] = len(blob)
    assert failed is not None, \
        f"no upload failed although {len(stored_blobs) * BLOB_MIB} MiB went to a {FS_MIB} MiB " \
        f"file system ({disk.method})"
    assert_space_error(r, "a monolithic blob upload", srv)
    left = spool_files(data) - before
    if left:
        # Checked at the end, so that the rest of the test still runs.
        sizes = {n: os.path.getsize(os.path.join(data, "uploads", n)) for n in sorted(left)}
        later.append(f"the monolithic upload refused with {r.status_code} left files in "
                     f"DATA/uploads (name: bytes): {sizes}")
    assert s.head(f"{srv.url}/v2/disk/fill/blobs/{digest_of(failed)}",
                  timeout=TIMEOUT).status_code == 404, "the failed blob must not exist"

    # A chunked upload that has one acknowledged PATCH; then the disk is filled to the last
    # byte. Its next PATCH fails with 507, and the session keeps exactly what was acknowledged.
    first, chunk = os.urandom(100 << 10), os.urandom(256 << 10)
    os.unlink(disk.mnt / "filler")    # room for the session's first PATCH
    r = s.post(f"{srv.url}/v2/disk/chunked/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, f"POST of a session: {r.status_code} {r.text}"
    session = srv.url + r.headers["Location"]
    r = s.patch(session, data=first, timeout=TIMEOUT, headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{len(first) - 1}"})
    assert r.status_code == 202, f"first PATCH: {r.status_code} {r.text}"
    session = srv.url + r.headers["Location"]
    uuid = session.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
    spool = os.path.join(data, "uploads", uuid)
    disk.fill()
    assert disk.free_bytes() < 4096, f"the file system still has {disk.free_bytes()} bytes free"
    r = s.patch(session, data=chunk, timeout=TIMEOUT, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{len(first)}-{len(first) + len(chunk) - 1}"})
    assert_space_error(r, "a PATCH", srv)
    st = s.get(session, timeout=TIMEOUT)
    if st.status_code == 204:
        assert st.headers.get("Range") == f"0-{len(first) - 1}", \
            f"after a failed PATCH the session must stay at offset {len(first)}, Range is " \
            f"{st.headers.get('Range')}"
        assert os.path.getsize(spool) == len(first), \
            f"the spool of the session holds {os.path.getsize(spool)} bytes after the failed " \
            f"PATCH, expected the {len(first)} acknowledged"
    else:
        assert st.status_code == 404, f"status of the session: {st.status_code} {st.text}"
        assert not os.path.exists(spool), "the session is gone but its spool stayed"
        session = None

    # Starting an upload on the full disk is refused cleanly too.
    before = spool_files(data)
    r = s.post(f"{srv.url}/v2/disk/more/blobs/uploads/", timeout=TIMEOUT)
    if r.status_code != 202:
        assert_space_error(r, "starting an upload session", srv)
        assert spool_files(data) == before, \
            f"a refused POST left files: {sorted(spool_files(data) - before)}"
    before = spool_files(data)
    small = os.urandom(10000)
    r = push_monolithic(s, srv.url, "disk/more", small)
    assert_space_error(r, "a small monolithic upload", srv)
    if spool_files(data) != before:
        later.append(f"a small monolithic upload refused on the full disk left files: "
                     f"{sorted(spool_files(data) - before)}")

    # Nothing committed is hurt, and fsck agrees, while the disk is still full.
    for img in committed:
        assert not image_problems(s, srv.url, img), image_problems(s, srv.url, img)
    for d, size in stored_blobs.items():
        p = blob_problem(s, srv.url, "disk/fill", d, size)
        assert p is None, p
    problems = fsck_failures(data, allowed=())
    assert not problems, problems[0]
    assert s.get(f"{srv.url}/v2/", timeout=TIMEOUT).status_code == 200

    # Free the space: the same server takes the failed blob, the session and a new image.
    disk.free()
    r = push_monolithic(s, srv.url, "disk/fill", failed)
    assert r.status_code == 201, \
        f"after freeing space the failed blob should push: {r.status_code} {r.text}\n" \
        f"{log_tail(srv)}"
    p = blob_problem(s, srv.url, "disk/fill", digest_of(failed), len(failed))
    assert p is None, p
    if session:
        r = s.patch(session, data=chunk, timeout=TIMEOUT, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{len(first)}-{len(first) + len(chunk) - 1}"})
        assert r.status_code == 202, f"PATCH after freeing space: {r.status_code} {r.text}"
        loc = srv.url + r.headers["Location"]
        r = s.put(loc + ("&" if "?" in loc else "?") + f"digest={digest_of(first + chunk)}",
                  timeout=TIMEOUT)
        assert r.status_code == 201, f"PUT after freeing space: {r.status_code} {r.text}"
        p = blob_problem(s, srv.url, "disk/chunked", digest_of(first + chunk),
                         len(first) + len(chunk))
        assert p is None, p
    r = push_monolithic(s, srv.url, "disk/more", small)
    assert r.status_code == 201, f"small blob after freeing space: {r.status_code} {r.text}"
    img = push_small_image(s, srv.url, "disk/app", "after")
    assert not image_problems(s, srv.url, img)
    for img in committed:
        assert not image_problems(s, srv.url, img)
    problems = fsck_failures(data, allowed=())
    assert not problems, problems[0]
    s.close()
    assert not later, "; ".join(later)
    print(f"\ndisk full via {disk.method}: {len(stored_blobs)} x {BLOB_MIB} MiB blobs fit; "
          f"session after the failed PATCH: {'kept' if session else 'gone'}")


def test_disk_full_manifest_put_fails_cleanly_and_keeps_the_tag(small_disk):
    disk = small_disk
    srv = disk.server()
    s = requests.Session()
    old = push_small_image(s, srv.url, "disk/tags", "stable")
    # Blobs of the next image go in while there is room; only its manifest PUT meets a full disk.
    config = json.dumps({"architecture": "amd64", "os": "linux", "next": True}).encode()
    layer = os.urandom(5000)
    for data in (config, layer):
        assert push_monolithic(s, srv.url, "disk/tags", data).status_code == 201
    manifest = image_manifest(config, [layer])
    disk.fill()
    assert disk.free_bytes() < 4096, f"the file system still has {disk.free_bytes()} bytes free"

    r = s.put(f"{srv.url}/v2/disk/tags/manifests/stable", data=manifest,
              headers={"Content-Type": OCI_MANIFEST}, timeout=TIMEOUT)
    assert_space_error(r, "a manifest PUT", srv)
    got = s.get(f"{srv.url}/v2/disk/tags/manifests/stable", timeout=TIMEOUT,
                headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200 and got.content == old.manifest, \
        f"the tag must still name the old manifest: {got.status_code} {digest_of(got.content)}"
    assert s.get(f"{srv.url}/v2/disk/tags/manifests/{digest_of(manifest)}",
                 timeout=TIMEOUT).status_code == 404, "the refused manifest must not exist"
    assert not image_problems(s, srv.url, old)
    problems = fsck_failures(srv.data, allowed=())
    assert not problems, problems[0]

    disk.free()
    r = s.put(f"{srv.url}/v2/disk/tags/manifests/stable", data=manifest,
              headers={"Content-Type": OCI_MANIFEST}, timeout=TIMEOUT)
    assert r.status_code == 201, f"manifest PUT after freeing space: {r.status_code} {r.text}"
    got = s.get(f"{srv.url}/v2/disk/tags/manifests/stable", timeout=TIMEOUT,
                headers={"Accept": OCI_MANIFEST})
    assert got.content == manifest
    problems = fsck_failures(srv.data, allowed=())
    assert not problems, problems[0]
    s.close()


def serve_and_wait(data, timeout=10):
    """Run `ocireg serve` on a free port: (exit code or None, stderr, seconds, listening)."""
    port = free_port()
    proc = subprocess.Popen([ocireg_binary(), "serve", "--listen", f"127.0.0.1:{port}",
                             "--data", str(data)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        with socket.socket() as sock:
            listening = sock.connect_ex(("127.0.0.1", port)) == 0
        proc.kill()
        out, err = proc.communicate()
        return None, err.decode(errors="replace"), time.monotonic() - start, listening
    return rc, (err + out).decode(errors="replace"), time.monotonic() - start, False


@pytest.mark.parametrize("kind", ["read-only-empty", "read-only-existing", "file"])
def test_unwritable_data_folder_exits_with_message(tmp_path, request, kind):
    if kind == "file":
        data = tmp_path / "not-a-folder"
        data.write_bytes(b"a file where the data folder should be\n")
    else:
        data = tmp_path / "ro"
        data.mkdir()
        proc = run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(data), check=False)
        if proc.returncode != 0:
            # A read-only bind mount of a plain folder is the other way to get EROFS.
            proc = run("mount", "--bind", str(data), str(data), check=False)
            if proc.returncode != 0:
                pytest.skip(f"cannot mount in this sandbox: {proc.stderr.strip()}")
        request.addfinalizer(lambda: unmount(data))
        if kind == "read-only-existing":
            # A data folder that served before (blobs/, uploads/, meta.db), now read-only.
            srv = RegistryServer(data, ["--access-log", "false"])
            srv.log_path = str(tmp_path / "init.log")
            srv.start()
            srv.stop()
            assert srv.proc.returncode == 0
        run("mount", "-o", "remount,ro,bind" if proc.args[1] == "--bind" else "remount,ro",
            str(data))
        with pytest.raises(OSError):
            open(data / "probe", "wb").close()
    rc, err, seconds, listening = serve_and_wait(data)
    assert rc is not None, \
        f"serve --data {data} ({kind}) kept running (listening: {listening}); stderr: {err}"
    assert rc != 0, f"serve --data {data} ({kind}) exited with 0; stderr: {err}"
    assert seconds < 5, f"serve took {seconds:.1f} s to give up"
    assert str(data) in err, f"stderr should name the data folder {data}: {err!r}"
    words = ("writable", "read-only", "not a directory", "cannot", "permission")
    assert any(w in err.lower() for w in words), \
        f"stderr should say what is wrong with the data folder: {err!r}"
