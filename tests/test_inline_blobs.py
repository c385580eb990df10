"""Small blobs live in the index (--inline-max): a blob up to the threshold is written into
DATA/meta.db's blob_data in the transaction that links it, one byte more is a file as before.
Both kinds behave the same on every path: GET with Range, HEAD, mount, chunked uploads that end
on either side of the threshold, gc, fsck, export/import, backup/restore; a data folder whose
small blobs are files keeps working, and an index newer than the binary is refused."""
import json
import os
import sqlite3
import subprocess
from contextlib import closing

import pytest
import requests

from ocireg_harness import ocireg_binary
from regutil import (assert_pulls, blob_path, db, digest_of, gc, ocireg, push_blob, push_image,
                     settle)

THRESHOLD = 1024
TIMEOUT = 30


@pytest.fixture
def srv(registry_factory):
    return registry_factory(["--inline-max", str(THRESHOLD)])


def held(data, digest):
    """The bytes DATA/meta.db holds for digest, or None."""
    with closing(db(data)) as conn:
        row = conn.execute("SELECT data FROM blob_data WHERE digest = ?", (digest,)).fetchone()
    return bytes(row[0]) if row else None


def assert_held(data, digest, content):
    assert held(data, digest) == content, f"{digest} should be held in the index"
    assert not os.path.exists(blob_path(data, digest)), f"{digest} should have no file"


def assert_file(data, digest, content):
    assert held(data, digest) is None, f"{digest} should not be held in the index"
    with open(blob_path(data, digest), "rb") as f:
        assert f.read() == content, f"{digest} should be a file with its content"


def get_blob(url, repo, digest, **headers):
    return requests.get(f"{url}/v2/{repo}/blobs/{digest}", headers=headers, timeout=TIMEOUT)


def chunked_push(url, repo, chunks):
    """POST, one PATCH per chunk, PUT ?digest=; returns the digest."""
    data = b"".join(chunks)
    r = requests.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, f"POST: expected 202, got {r.status_code} {r.text}"
    loc, offset = r.headers["Location"], 0
    for chunk in chunks:
        r = requests.patch(url + loc if loc.startswith("/") else loc, data=chunk, timeout=TIMEOUT,
                           headers={"Content-Type": "application/octet-stream",
                                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        assert r.status_code == 202, f"PATCH: expected 202, got {r.status_code} {r.text}"
        loc, offset = r.headers["Location"], offset + len(chunk)
    d = digest_of(data)
    r = requests.put(url + loc if loc.startswith("/") else loc, params={"digest": d},
                     timeout=TIMEOUT)
    assert r.status_code == 201, f"PUT: expected 201, got {r.status_code} {r.text}"
    return d


def test_blob_at_the_threshold_is_held_and_one_byte_over_is_a_file(srv):
    at, over = os.urandom(THRESHOLD), os.urandom(THRESHOLD + 1)
    d_at, _ = push_blob(srv.url, "t/app", at)
    d_over, _ = push_blob(srv.url, "t/app", over)
    assert_held(srv.data, d_at, at)
    assert_file(srv.data, d_over, over)
    for d, content in ((d_at, at), (d_over, over)):
        r = get_blob(srv.url, "t/app", d)
        assert r.status_code == 200 and r.content == content, f"GET {d}: {r.status_code}"
        assert r.headers["Docker-Content-Digest"] == d


def test_empty_blob_is_held_and_served(srv):
    d, _ = push_blob(srv.url, "t/app", b"")
    assert_held(srv.data, d, b"")
    r = get_blob(srv.url, "t/app", d)
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == "0"


@pytest.mark.parametrize("size", [THRESHOLD, THRESHOLD + 1], ids=["held", "file"])
def test_range_and_head_answer_the_same_for_both_kinds(srv, size):
    content = os.urandom(size)
    d, _ = push_blob(srv.url, "t/app", content)
    r = get_blob(srv.url, "t/app", d, Range="bytes=10-19")
    assert r.status_code == 206 and r.content == content[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{size}"
    r = get_blob(srv.url, "t/app", d, Range="bytes=-5")
    assert r.status_code == 206 and r.content == content[-5:]
    r = get_blob(srv.url, "t/app", d, Range=f"bytes=100-")
    assert r.status_code == 206 and r.content == content[100:]
    r = get_blob(srv.url, "t/app", d, Range=f"bytes={size}-")
    assert r.status_code == 416, f"a range past the end: expected 416, got {r.status_code}"
    r = requests.head(f"{srv.url}/v2/t/app/blobs/{d}", timeout=TIMEOUT)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(size)
    assert r.headers["Docker-Content-Digest"] == d


def test_mount_of_a_held_blob_serves_it_in_the_other_repository(srv):
    content = b"mounted and held" * 8
    d, _ = push_blob(srv.url, "t/from", content)
    r = requests.post(f"{srv.url}/v2/t/to/blobs/uploads/", params={"mount": d, "from": "t/from"},
                      timeout=TIMEOUT)
    assert r.status_code == 201, f"mount: expected 201, got {r.status_code} {r.text}"
    r = get_blob(srv.url, "t/to", d)
    assert r.status_code == 200 and r.content == content
    assert_held(srv.data, d, content)


def test_chunked_upload_ending_under_the_threshold_is_held(srv):
    chunks = [os.urandom(400), os.urandom(400), os.urandom(THRESHOLD - 800)]
    d = chunked_push(srv.url, "t/app", chunks)
    assert_held(srv.data, d, b"".join(chunks))
    assert get_blob(srv.url, "t/app", d).content == b"".join(chunks)


def test_chunked_upload_crossing_the_threshold_is_a_file(srv):
    chunks = [os.urandom(THRESHOLD - 1), os.urandom(2)]
    d = chunked_push(srv.url, "t/app", chunks)
    assert_file(srv.data, d, b"".join(chunks))
    assert get_blob(srv.url, "t/app", d).content == b"".join(chunks)


def test_manifest_and_config_are_held_and_pull(srv):
    img = push_image(srv.url, "t/img", "v1", layers=[os.urandom(THRESHOLD + 100)])
    assert held(srv.data, img.digest) == img.manifest, "the manifest is held in the index"
    assert held(srv.data, img.config) is not None, "the config is held in the index"
    assert_pulls(srv.url, img)


def test_gc_frees_a_held_blob_by_deleting_its_row(srv):
    small, large = b"garbage held" * 10, os.urandom(THRESHOLD * 2)
    d_small, _ = push_blob(srv.url, "t/app", small)
    d_large, _ = push_blob(srv.url, "t/app", large)
    settle()
    report = gc(srv.data, "--grace", "0")
    assert report["blobs_deleted"] == 2, f"gc report: {report}"
    assert report["bytes_freed"] == len(small) + len(large)
    assert held(srv.data, d_small) is None, "gc leaves no held bytes behind"
    assert not os.path.exists(blob_path(srv.data, d_large))
    assert get_blob(srv.url, "t/app", d_small).status_code == 404


def fsck(data, *args):
    proc = ocireg("fsck", "--json", "--data", data, *args, check=False)
    assert proc.returncode in (0, 1), f"fsck could not check: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


def test_fsck_checks_held_blobs_against_their_digest(srv):
    img = push_image(srv.url, "t/img", "v1", layers=[b"held layer"])
    srv.stop()
    rc, report = fsck(srv.data)
    assert rc == 0 and report["problems"] == 0, f"a healthy folder: {report}"
    assert report["blobs_checked"] == len(img.blobs) + 1
    with closing(sqlite3.connect(os.path.join(srv.data, "meta.db"))) as conn:
        conn.execute("UPDATE blob_data SET data = ? WHERE digest = ?",
                     (b"tampered!!", img.layers[0]))
        conn.commit()
    rc, report = fsck(srv.data)
    assert rc == 1, f"a corrupt held blob is a problem: {report}"
    assert [(p["kind"], p["what"]) for p in report["details"]] == \
        [("corrupt-blob", img.layers[0])], f"fsck report: {report}"
    # The manifest still uses it: --repair can neither move nor drop it, and says so.
    rc, report = fsck(srv.data, "--repair")
    assert rc == 1 and report["repaired"] == 0, f"nothing was repaired: {report}"
    assert held(srv.data, img.layers[0]) == b"tampered!!", "repair keeps what it cannot fix"


def test_export_and_import_keep_held_blobs(srv, registry_factory, tmp_path):
    img = push_image(srv.url, "t/img", "v1", layers=[b"small layer", os.urandom(THRESHOLD + 1)])
    archive = tmp_path / "img.tar.zst"
    ocireg("export", "-o", archive, "--data", srv.data, "t/img:v1")
    target = registry_factory(["--inline-max", str(THRESHOLD)])
    target.stop()
    ocireg("import", archive, "--data", target.data, "--inline-max", str(THRESHOLD))
    assert held(target.data, img.layers[0]) == b"small layer", "import keeps small blobs held"
    assert held(target.data, img.digest) == img.manifest
    assert os.path.exists(blob_path(target.data, img.layers[1])), "large blobs are files"
    target.start()
    assert_pulls(target.url, img)


def test_backup_and_restore_keep_held_blobs(srv, registry_factory, tmp_path):
    img = push_image(srv.url, "t/img", "v1", layers=[b"small layer", os.urandom(THRESHOLD + 1)])
    archive = tmp_path / "backup.tar.zst"
    ocireg("backup", "-o", archive, "--data", srv.data)
    restored = tmp_path / "restored"
    ocireg("restore", archive, "--data", restored)
    assert_held(restored, img.layers[0], b"small layer")
    assert_held(restored, img.digest, img.manifest)
    assert os.path.exists(blob_path(restored, img.layers[1]))
    rc, report = fsck(restored)
    assert rc == 0, f"the restored folder is healthy: {report}"
    assert_pulls(registry_factory(data_dir=restored).url, img)


def test_restore_refuses_a_backup_whose_held_blob_is_damaged(srv, tmp_path):
    img = push_image(srv.url, "t/img", "v1", layers=[b"small layer"])
    archive = tmp_path / "backup.tar.zst"
    ocireg("backup", "-o", archive, "--data", srv.data)
    # Damage the held bytes inside the backup's index: restore, tamper, back up again.
    first = tmp_path / "first"
    ocireg("restore", archive, "--data", first)
    with closing(sqlite3.connect(os.path.join(first, "meta.db"))) as conn:
        conn.execute("UPDATE blob_data SET data = ? WHERE digest = ?", (b"tampered", img.layers[0]))
        conn.commit()
    damaged = tmp_path / "damaged.tar.zst"
    ocireg("backup", "-o", damaged, "--data", first)
    proc = ocireg("restore", damaged, "--data", tmp_path / "second", check=False)
    assert proc.returncode != 0 and img.layers[0] in proc.stderr, \
        f"restore should refuse the damaged held blob: {proc.returncode} {proc.stderr}"


def test_small_blob_files_of_an_older_folder_are_still_served(registry_factory, tmp_path):
    data = tmp_path / "old"
    old = registry_factory(["--inline-max", "0"], data_dir=data)
    img = push_image(old.url, "t/img", "v1", layers=[b"an old small layer"])
    old.stop()
    assert_file(data, img.layers[0], b"an old small layer")
    new = registry_factory(["--inline-max", str(THRESHOLD)], data_dir=data)
    assert_pulls(new.url, img)
    r = get_blob(new.url, "t/img", img.layers[0], Range="bytes=3-5")
    assert r.status_code == 206 and r.content == b"an old small layer"[3:6]
    rc, report = fsck(data)
    assert rc == 0, f"file blobs under the threshold stay valid: {report}"


def test_inline_max_zero_turns_inlining_off(registry_factory):
    srv = registry_factory(["--inline-max", "0"])
    d, _ = push_blob(srv.url, "t/app", b"tiny")
    assert_file(srv.data, d, b"tiny")


def test_inline_max_beyond_its_bound_is_refused(tmp_path):
    proc = subprocess.run([ocireg_binary(), "serve", "--data", str(tmp_path / "d"),
                           "--inline-max", str(1024 * 1024 + 1)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "inline-max" in proc.stderr, proc.stderr
    proc = ocireg("import", tmp_path / "none.tar", "--data", tmp_path / "d", "--inline-max",
                  str(1024 * 1024 + 1), check=False)
    assert proc.returncode != 0 and "inline-max" in proc.stderr, proc.stderr


def test_import_with_the_default_threshold_holds_small_blobs(srv, tmp_path):
    img = push_image(srv.url, "t/img", "v1", layers=[os.urandom(THRESHOLD + 1)])
    archive = tmp_path / "img.tar.zst"
    ocireg("export", "-o", archive, "--data", srv.data, "t/img:v1")
    target = tmp_path / "target"
    ocireg("import", archive, "--data", target)
    assert_held(target, img.layers[0], held(srv.data, img.layers[0]) or
                open(blob_path(srv.data, img.layers[0]), "rb").read())


def test_an_index_newer_than_the_binary_is_refused(registry_factory, tmp_path):
    srv = registry_factory()
    push_blob(srv.url, "t/app", b"held")
    srv.stop()
    with closing(sqlite3.connect(os.path.join(srv.data, "meta.db"))) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {version + 1}")
    proc = subprocess.run([ocireg_binary(), "serve", "--data", str(srv.data), "--listen",
                           "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0, "serve must refuse an index it does not know"
    assert f"schema version {version + 1}" in proc.stderr and "newer" in proc.stderr, \
        proc.stderr
    proc = ocireg("fsck", "--data", srv.data, check=False)
    assert proc.returncode not in (0, 1) and "newer" in proc.stderr, proc.stderr
