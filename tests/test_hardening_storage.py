"""Storage hardening (issue 17, points 5, 6, 7, 11, 12): archives and pushes cannot fill the
disk (a declared size over --max-blob-size or the free space is refused before a byte is
written); manifests cannot smuggle references through `urls` or huge sizes, and a reference
never pins a blob its repository cannot read; restore forces private modes on keys/; fsck tells
garbage (orphan files, upload spools) from damage; gc --grace 0s collects what was pushed in the
same second."""
import io
import json
import os
import sqlite3
import stat
import subprocess
import tarfile
import time

import pytest
import requests

from regutil import (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, blob_path, db, digest_of, gc, ocireg,
                     place_orphan, push_blob, push_image, put_manifest, settle)

NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
TIMEOUT = 30

# Tests that look at blob files keep every blob a file (small ones would live in the index).
FILE_BLOBS = ["--inline-max", "0"]


def zstd(plain, out):
    subprocess.run(["zstd", "-q", "-f", str(plain), "-o", str(out)], check=True, timeout=60)


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(str(path)):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total


def huge_blob_archive(tmp_path, declared, sent=4 << 20):
    """A .tar.zst whose blob entry declares `declared` bytes but holds only `sent` zeros: a
    reader that trusts the header would start spooling gigabytes."""
    plain = tmp_path / "huge.tar"
    with open(plain, "wb") as f:
        layout = tarfile.TarInfo("oci-layout")
        body = b'{"imageLayoutVersion":"1.0.0"}'
        layout.size = len(body)
        f.write(layout.tobuf(format=tarfile.PAX_FORMAT))
        f.write(body + b"\0" * (512 - len(body)))
        info = tarfile.TarInfo("blobs/sha256/" + "ab" * 32)
        info.size = declared
        f.write(info.tobuf(format=tarfile.PAX_FORMAT))
        f.write(b"\0" * sent)
    out = tmp_path / "huge.tar.zst"
    zstd(plain, out)
    return out


# ---- point 5: archives and pushes ----

def test_import_refuses_a_declared_blob_over_max_blob_size_before_spooling(tmp_path):
    archive = huge_blob_archive(tmp_path, 2 << 30)
    data = tmp_path / "data"
    assert archive.stat().st_size < 64 * 1024, "the crafted archive should be tiny"

    proc = ocireg("import", archive, "--max-blob-size", "1M", "--data", data, check=False)

    assert proc.returncode == 1, f"expected the import to be refused: {proc.stderr}"
    assert "maximum blob size" in proc.stderr, f"the message should name the limit: {proc.stderr}"
    assert os.listdir(data / "uploads") == [], "no spool may remain"
    assert dir_bytes(data / "uploads") + dir_bytes(data / "blobs") == 0


def test_import_refuses_a_declared_blob_larger_than_the_free_space(tmp_path):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    archive = huge_blob_archive(tmp_path, free + (1 << 40))
    data = tmp_path / "data"

    proc = ocireg("import", archive, "--max-blob-size", "4T", "--data", data, check=False)

    assert proc.returncode == 1 and "free" in proc.stderr, \
        f"expected a refusal naming the free space: {proc.stderr}"
    assert os.listdir(data / "uploads") == []


def test_import_within_max_blob_size_still_works(registry_factory, tmp_path):
    srv = registry_factory()
    img = push_image(srv.url, "app", "v1", layers=[b"x" * 3000])
    archive = tmp_path / "a.tar.zst"
    ocireg("export", "app:v1", "-o", archive, "--data", srv.data)
    target = tmp_path / "target"

    refused = ocireg("import", archive, "--max-blob-size", "2K", "--data", target, check=False)
    ocireg("import", archive, "--max-blob-size", "3000", "--inline-max", "0", "--data", target)

    assert refused.returncode == 1 and "maximum blob size" in refused.stderr, refused.stderr
    assert os.path.exists(blob_path(target, img.layers[0]))


def test_restore_refuses_a_blob_over_max_blob_size_and_leaves_nothing(registry_factory, tmp_path):
    srv = registry_factory(FILE_BLOBS)
    push_image(srv.url, "app", "v1", layers=[os.urandom(5000)])
    archive = tmp_path / "b.tar.zst"
    ocireg("backup", "-o", archive, "--data", srv.data)
    target = tmp_path / "restored"

    proc = ocireg("restore", archive, "--data", target, "--max-blob-size", "4K", check=False)

    assert proc.returncode == 1 and "maximum blob size" in proc.stderr, proc.stderr
    assert not os.path.exists(target), "a refused restore leaves no folder behind"


@pytest.fixture
def small(registry_factory):
    return registry_factory(extra_args=["--max-blob-size", "1K"])


def assert_too_large(r, what):
    assert r.status_code == 413, f"{what}: expected 413, got {r.status_code} {r.text}"
    assert r.json()["errors"][0]["code"] == "SIZE_INVALID", f"{what}: {r.text}"


def test_monolithic_push_over_max_blob_size_is_413(small):
    assert push_blob(small.url, "app", b"k" * 1024)[1].status_code == 201, "1K exactly fits"
    data = b"x" * 1025
    r = requests.post(f"{small.url}/v2/app/blobs/uploads/", params={"digest": digest_of(data)},
                      data=data, timeout=TIMEOUT)
    assert_too_large(r, "monolithic POST")


def test_chunked_push_over_max_blob_size_is_413_and_ends_the_session(small):
    r = requests.post(f"{small.url}/v2/app/blobs/uploads/", timeout=TIMEOUT)
    loc = small.url + r.headers["Location"]
    r = requests.patch(loc, data=b"a" * 800, timeout=TIMEOUT,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text

    declared = requests.patch(loc, data=b"b" * 300, timeout=TIMEOUT,
                              headers={"Content-Range": "800-1099"})

    assert_too_large(declared, "PATCH whose Content-Length passes the maximum")
    assert requests.get(loc, timeout=TIMEOUT).status_code == 404, \
        "the refused session should be gone"


def test_streamed_body_without_length_over_max_blob_size_is_413(small):
    def body():
        for _ in range(8):
            yield b"z" * 256

    data = b"z" * 2048
    r = requests.post(f"{small.url}/v2/app/blobs/uploads/", params={"digest": digest_of(data)},
                      data=body(), timeout=TIMEOUT)
    assert_too_large(r, "chunked-encoding POST")


def test_put_over_max_blob_size_is_413(small):
    data = b"p" * 2000
    r = requests.post(f"{small.url}/v2/app/blobs/uploads/", timeout=TIMEOUT)
    loc = small.url + r.headers["Location"]
    r = requests.put(loc, params={"digest": digest_of(data)}, data=data, timeout=TIMEOUT)
    assert_too_large(r, "PUT with the whole body")


# ---- point 6: manifests ----

def manifest_with_layer(config, layer):
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config),
                                  "size": len(config)},
                       "layers": [layer]}).encode()


@pytest.fixture
def srv(registry_factory):
    return registry_factory(FILE_BLOBS)


def test_urls_on_a_distributable_layer_are_refused(srv):
    config = b'{"os":"linux"}'
    push_blob(srv.url, "b", config)
    secret = digest_of(b"another tenant's layer")
    body = manifest_with_layer(config, {"mediaType": OCI_LAYER, "digest": secret, "size": 22,
                                        "urls": ["https://example.invalid/x"]})
    r = put_manifest(srv.url, "b", "v1", body)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID", \
        f"urls on {OCI_LAYER} should be MANIFEST_INVALID: {r.status_code} {r.text}"


def test_urls_on_a_nondistributable_layer_are_accepted(srv):
    config = b'{"os":"windows"}'
    push_blob(srv.url, "b", config)
    body = manifest_with_layer(config, {"mediaType": NONDIST, "digest": digest_of(b"base"),
                                        "size": 4, "urls": ["https://example.invalid/base"]})
    r = put_manifest(srv.url, "b", "v1", body)
    assert r.status_code == 201, r.text
    proc = ocireg("fsck", "--json", "--data", srv.data, check=False)
    assert proc.returncode == 0, f"a foreign layer is no missing reference: {proc.stdout}"


def test_a_size_of_2_pow_63_minus_1_is_refused(srv):
    config = b'{"os":"plan9"}'
    push_blob(srv.url, "b", config)
    body = manifest_with_layer(config, {"mediaType": NONDIST, "digest": digest_of(b"big"),
                                        "size": 2**63 - 1, "urls": ["https://example.invalid/b"]})
    r = put_manifest(srv.url, "b", "v1", body)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID", r.text
    assert db(srv.data).execute("SELECT count(*) FROM manifests").fetchone()[0] == 0


def test_a_reference_never_pins_another_tenants_deleted_blob(srv):
    url = srv.url
    private, _ = push_blob(url, "a", b"tenant a's private layer")
    config = b'{"os":"linux","tenant":"b"}'
    push_blob(url, "b", config)
    body = manifest_with_layer(config, {"mediaType": NONDIST, "digest": private, "size": 24,
                                        "urls": ["https://example.invalid/l"]})
    assert put_manifest(url, "b", "v1", body).status_code == 201
    assert requests.delete(f"{url}/v2/a/blobs/{private}", timeout=TIMEOUT).status_code == 202
    settle()

    report = gc(srv.data, "--grace", "0s")

    assert not os.path.exists(blob_path(srv.data, private)), \
        f"b's reference kept a's deleted blob alive: {report}"
    assert os.path.exists(blob_path(srv.data, digest_of(config))), "b's own config is kept"


# ---- point 7: restore modes ----

def test_restore_makes_keys_private_whatever_the_archive_says(registry_factory, tmp_path):
    srv = registry_factory()
    push_image(srv.url, "app", "v1")
    archive, plain, loose = tmp_path / "b.tar.zst", tmp_path / "b.tar", tmp_path / "loose.tar"
    ocireg("backup", "-o", archive, "--data", srv.data)
    subprocess.run(["zstd", "-q", "-d", "-f", str(archive), "-o", str(plain)], check=True)
    keys = 0
    with tarfile.open(plain) as src, tarfile.open(loose, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name.rstrip("/").startswith("keys"):
                member.mode = 0o777
                keys += 1
            dst.addfile(member, data)
    assert keys >= 2, "the backup should hold keys/ and a key file"
    target = tmp_path / "restored"

    ocireg("restore", loose, "--data", target)

    assert stat.S_IMODE(os.stat(target / "keys").st_mode) == 0o700
    for name in os.listdir(target / "keys"):
        mode = stat.S_IMODE(os.stat(target / "keys" / name).st_mode)
        assert mode == 0o600, f"keys/{name} restored with mode {oct(mode)}, expected 0o600"


# ---- point 11: fsck garbage and damage ----

def fsck(data):
    proc = ocireg("fsck", "--json", "--data", data, check=False)
    assert proc.returncode in (0, 1), f"fsck could not check: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


def test_fsck_reports_an_orphan_and_a_spool_as_garbage_and_exits_0(registry_factory):
    srv = registry_factory()
    push_image(srv.url, "app", "v1")
    r = requests.post(f"{srv.url}/v2/app/blobs/uploads/", timeout=TIMEOUT)
    loc = srv.url + r.headers["Location"]
    assert requests.patch(loc, data=b"s" * 777, timeout=TIMEOUT).status_code == 202
    srv.stop()
    orphan = place_orphan(srv.data, b"written before the crash, never indexed")

    rc, report = fsck(srv.data)

    assert rc == 0 and report["healthy"], f"garbage is no damage: {report}"
    garbage = {g["kind"]: g for g in report["garbage"]}
    assert garbage["orphan-file"]["what"] == orphan and garbage["orphan-file"]["size"] == 39
    assert garbage["upload-spool"]["size"] == 777
    assert report["garbage_bytes"] == 39 + 777 and report["details"] == []


def test_fsck_still_exits_1_for_a_missing_blob_beside_garbage(registry_factory):
    srv = registry_factory(FILE_BLOBS)
    img = push_image(srv.url, "app", "v1", layers=[b"will go missing"])
    srv.stop()
    os.unlink(blob_path(srv.data, img.layers[0]))
    place_orphan(srv.data, b"garbage")

    rc, report = fsck(srv.data)

    assert rc == 1 and not report["healthy"]
    assert [p["kind"] for p in report["details"]] == ["missing-blob"]
    assert [g["kind"] for g in report["garbage"]] == ["orphan-file"]


def test_fsck_reports_an_unparsable_digest_row_as_damage(registry_factory):
    srv = registry_factory()
    push_image(srv.url, "app", "v1")
    srv.stop()
    with sqlite3.connect(os.path.join(srv.data, "meta.db")) as conn:
        conn.execute("INSERT INTO blobs(digest, size, created_at) VALUES('sha256:not-hex', 1, 0)")

    rc, report = fsck(srv.data)

    assert rc == 1, f"an unparsable digest row is damage: {report}"
    assert [p["kind"] for p in report["details"]] == ["invalid-digest-row"]
    assert report["details"][0]["what"] == "sha256:not-hex"


# ---- point 12: gc grace ----

def test_gc_grace_0s_collects_a_blob_pushed_in_the_same_second(srv):
    while time.time() % 1 > 0.3:  # start early in a second so push and gc share it
        time.sleep(0.02)
    d, _ = push_blob(srv.url, "app", b"unreferenced from birth")

    report = gc(srv.data, "--grace", "0s")

    assert report["blobs_deleted"] == 1, f"the blob pushed this second should go: {report}"
    assert not os.path.exists(blob_path(srv.data, d))
