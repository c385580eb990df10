"""ocireg fsck: a healthy store checks clean; a corrupt blob file is reported and quarantined
(never deleted) with --repair; a missing file, an orphan file and dangling rows are found;
the exit status says whether the store is healthy."""
import json
import os
import sqlite3

import pytest

from regutil import blob_path, place_orphan, push_image
from authutil import cli


def fsck(data, *args):
    proc = cli("fsck", "--json", "--data", str(data), *args, check=False)
    assert proc.returncode in (0, 1), f"fsck could not check: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def store(registry_factory):
    # Blob files: tests/test_inline_blobs.py covers the blobs the index holds.
    server = registry_factory(["--inline-max", "0"])
    img = push_image(server.url, "fsck/app", "v1", layers=(b"layer one", b"layer two"))
    server.stop()
    return server.data, img


def test_healthy_store_is_clean(store):
    data, img = store
    rc, report = fsck(data)
    assert rc == 0 and report["healthy"] and report["problems"] == 0
    assert report["blobs_checked"] == len(img.blobs) + 1


def test_corrupt_blob_is_reported_then_quarantined(store):
    data, img = store
    path = blob_path(data, img.layers[0])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"X")
    rc, report = fsck(data)
    assert rc == 1 and not report["healthy"]
    assert [p["kind"] for p in report["details"]] == ["corrupt-blob"]
    rc, report = fsck(data, "--repair")
    assert report["details"][0]["action"] == "quarantined"
    assert not os.path.exists(path), "the corrupt file leaves the blob store"
    quarantined = os.path.join(data, "quarantine", "sha256-" + img.layers[0].split(":")[1])
    assert open(quarantined, "rb").read().startswith(b"X"), "quarantined, never deleted"


def test_missing_file_and_orphan_are_found(store):
    data, img = store
    os.unlink(blob_path(data, img.layers[1]))
    place_orphan(data, b"nobody knows me")
    rc, report = fsck(data)
    kinds = [p["kind"] for p in report["details"]]
    assert rc == 1 and kinds == ["missing-blob"]
    assert [g["kind"] for g in report["garbage"]] == ["orphan-file"], "an orphan is garbage"


def test_dangling_tag_is_removed_by_repair(store):
    data, img = store
    with sqlite3.connect(os.path.join(data, "meta.db")) as db:
        db.execute("INSERT INTO tags(repo_id, name, digest, updated_at) SELECT id, 'ghost', "
                   "'sha256:' || hex(zeroblob(32)), 0 FROM repositories WHERE name = 'fsck/app'")
    rc, report = fsck(data)
    assert rc == 1 and report["details"][0]["kind"] == "dangling-tag"
    rc, report = fsck(data, "--repair")
    assert rc == 0 and report["repaired"] == 1
    assert fsck(data)[0] == 0
