"""Online garbage collection: `ocireg gc` against the data folder of a running server. Each test
has its own server and data folder, builds a known state over the API (plus, for orphans and
uploads, files placed by hand), runs gc with --json and checks the report, the blob files on
disk and what the API still serves."""
import json
import os
import time

import pytest
import requests

from regutil import (OCI_EMPTY, OCI_MANIFEST, Image, assert_pulls, blob_files, blob_path,
                     blob_status, db, delete_tag, digest_of, gc, image_manifest,
                     manifest_status, location, ocireg, place_orphan, push_blob, push_image,
                     push_index, settle, tree_snapshot)


@pytest.fixture
def srv(registry_factory):
    # These tests follow blob files: tests/test_inline_blobs.py covers blobs the index holds.
    return registry_factory(["--inline-max", "0"])


def files_gone(data, digests):
    return sorted(d for d in digests if os.path.exists(blob_path(data, d)))


def test_deleting_a_tag_leaves_the_manifest_untagged(srv):
    url = srv.url
    img = push_image(url, "app", "v1", layers=[b"only-tag-goes"])
    delete_tag(url, "app", "v1")
    assert manifest_status(url, "app", "v1") == 404, "the deleted tag should no longer resolve"
    assert manifest_status(url, "app", img.digest) == 200, \
        "DELETE of a tag should remove only the tag, the manifest should still pull by digest"
    tags = requests.get(f"{url}/v2/app/tags/list", timeout=10).json().get("tags") or []
    assert "v1" not in tags, f"tags/list still names the deleted tag: {tags}"


def test_untagged_gc_frees_exactly_the_unreferenced_blobs(srv):
    url, data = srv.url, srv.data
    shared = b"shared-base-layer" * 100
    gone = push_image(url, "app", "old", layers=[shared, b"old-only-layer" * 50])
    kept = push_image(url, "app", "new", layers=[shared, b"new-only-layer" * 70])
    delete_tag(url, "app", "old")
    before = blob_files(data)
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    unreferenced = {gone.digest, gone.config, gone.layers[1]}
    after = blob_files(data)
    assert set(before) - set(after) == unreferenced, \
        "gc --untagged should delete exactly the untagged manifest, its config and its own " \
        f"layer; deleted {sorted(set(before) - set(after))}, expected {sorted(unreferenced)}"
    assert set(after) - set(before) == set(), "gc should not create blob files"
    assert report["manifests_deleted"] == 1 and report["blobs_deleted"] == 3, \
        f"expected 1 manifest and 3 blobs deleted, report: {report}"
    assert report["dry_run"] is False
    assert blob_status(url, "app", gone.layers[1]) == 404, "the deleted layer should 404"
    assert blob_status(url, "app", gone.config) == 404, "the deleted config should 404"
    assert manifest_status(url, "app", gone.digest) == 404, "the untagged manifest should 404"
    assert blob_status(url, "app", digest_of(shared)) == 200, "the shared layer should stay"
    assert_pulls(url, kept)


def test_layers_shared_between_repositories_survive_when_one_repository_image_goes(srv):
    url, data = srv.url, srv.data
    shared = b"base-os-layer" * 200
    config = b'{"architecture":"amd64","os":"linux","shared":true}'
    one = push_image(url, "team/one", "v1", layers=[shared, b"one-app"], config=config)
    two = push_image(url, "team/two", "v1", layers=[shared, b"two-app"], config=config)
    delete_tag(url, "team/one", "v1")
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert report["manifests_deleted"] == 1, f"expected team/one's manifest to go: {report}"
    assert files_gone(data, [one.digest, one.layers[1]]) == [], \
        "team/one's manifest and own layer should be deleted from disk"
    for d in (digest_of(shared), digest_of(config)):
        assert os.path.exists(blob_path(data, d)), \
            f"blob {d}, still used by team/two, was deleted from disk"
    assert_pulls(url, two)


def push_multi_platform(url, seed):
    """Two untagged platform images in multi and an index over them tagged latest."""
    amd = push_image(url, "multi", None, layers=[b"amd64-" + seed * 30])
    arm = push_image(url, "multi", None, layers=[b"arm64-" + seed * 30])
    return amd, arm, push_index(url, "multi", "latest", [amd, arm])


def test_tagged_index_keeps_its_untagged_children_and_their_blobs(srv):
    url, data = srv.url, srv.data
    amd, arm, idx = push_multi_platform(url, b"layer")
    before = blob_files(data)
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert report["manifests_deleted"] == 0 and report["blobs_deleted"] == 0, \
        f"a tagged index should keep its children; report: {report}"
    assert blob_files(data) == before, "no blob file should go while the index is tagged"
    assert_pulls(url, idx)
    assert_pulls(url, amd)
    assert_pulls(url, arm)


def test_untagging_an_index_lets_gc_cascade_to_its_children(srv):
    url, data = srv.url, srv.data
    amd, arm, idx = push_multi_platform(url, b"cascade")
    keep = push_image(url, "multi", "other", layers=[b"unrelated"])
    delete_tag(url, "multi", "latest")
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert report["manifests_deleted"] == 3, \
        f"expected the index and its two children to be deleted; report: {report}"
    for img in (idx, amd, arm):
        assert manifest_status(url, "multi", img.digest) == 404, \
            f"{img.digest} should be gone after its index went"
    leftovers = files_gone(data, idx.all_digests() | amd.all_digests() | arm.all_digests())
    assert leftovers == [], f"blob files of the index and children should go: {leftovers}"
    assert_pulls(url, keep)


def test_cascade_spares_children_that_something_else_keeps(srv):
    url, data = srv.url, srv.data
    only_old = push_image(url, "multi", None, layers=[b"only-in-old-index"])
    shared = push_image(url, "multi", None, layers=[b"in-both-indexes"])
    tagged = push_image(url, "multi", "pinned", layers=[b"tagged-child"])
    old = push_index(url, "multi", "old", [only_old, shared, tagged])
    new = push_index(url, "multi", "new", [shared])
    delete_tag(url, "multi", "old")
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert manifest_status(url, "multi", old.digest) == 404, "the untagged index should go"
    assert manifest_status(url, "multi", only_old.digest) == 404, \
        "a child only the deleted index listed should go with it"
    assert report["manifests_deleted"] == 2, f"expected 2 manifests deleted: {report}"
    assert_pulls(url, shared)       # still listed by the "new" index
    assert_pulls(url, tagged)       # has its own tag
    assert_pulls(url, new)


def test_an_index_in_another_repository_does_not_keep_a_manifest(srv):
    url, data = srv.url, srv.data
    layer, config = b"same-child-layer" * 10, b'{"architecture":"arm64","os":"linux"}'
    in_a = push_image(url, "repo-a", None, layers=[layer], config=config)
    in_b = push_image(url, "repo-b", None, layers=[layer], config=config)
    assert in_a.digest == in_b.digest
    idx = push_index(url, "repo-b", "latest", [in_b])
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert manifest_status(url, "repo-a", in_a.digest) == 404, \
        "repo-a's untagged copy should go: only an index of the same repository keeps it"
    assert report["manifests_deleted"] == 1, f"expected only repo-a's copy deleted: {report}"
    assert_pulls(url, in_b)
    assert_pulls(url, idx)


def test_untagged_manifests_younger_than_the_grace_are_kept(srv):
    url, data = srv.url, srv.data
    img = push_image(url, "app", "v1", layers=[b"recently-untagged"])
    delete_tag(url, "app", "v1")
    settle()

    report = gc(data, "--untagged", "--grace", "1h")

    assert report["manifests_deleted"] == 0 and report["blobs_deleted"] == 0, \
        f"an untagged manifest pushed within --grace 1h should be kept: {report}"
    assert_pulls(url, img, img.digest)


def test_manifest_listed_by_an_index_cannot_be_deleted(srv):
    url = srv.url
    child = push_image(url, "multi", None, layers=[b"child-layer"])
    push_index(url, "multi", "latest", [child])
    r = requests.delete(f"{url}/v2/multi/manifests/{child.digest}", timeout=10)
    assert r.status_code == 409, \
        f"DELETE of a manifest an index lists: expected 409, got {r.status_code} {r.text}"
    assert_pulls(url, child)


def test_blob_used_by_a_manifest_cannot_be_deleted(srv):
    url = srv.url
    img = push_image(url, "app", "v1", layers=[b"in-use-layer"])
    r = requests.delete(f"{url}/v2/app/blobs/{img.layers[0]}", timeout=10)
    assert r.status_code == 409, \
        f"DELETE of a blob a manifest uses: expected 409, got {r.status_code} {r.text}"
    assert_pulls(url, img)


def test_referrer_lives_while_its_subject_exists_and_goes_with_it(srv):
    url, data = srv.url, srv.data
    subject = push_image(url, "app", "v1", layers=[b"signed-image-layer"])
    sig = push_image(url, "app", None, layers=[b"signature-bytes"], config=b"{}",
                     config_type=OCI_EMPTY, subject=subject,
                     artifact_type="application/vnd.example.signature")
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert report["manifests_deleted"] == 0, \
        f"an untagged referrer whose subject exists should be kept; report: {report}"
    assert_pulls(url, sig)
    listed = requests.get(f"{url}/v2/app/referrers/{subject.digest}", timeout=10).json()
    assert [m["digest"] for m in listed.get("manifests", [])] == [sig.digest]

    delete_tag(url, "app", "v1")
    settle()
    report = gc(data, "--untagged", "--grace", "0")

    assert report["manifests_deleted"] == 2, \
        f"expected the untagged subject and its referrer to go; report: {report}"
    assert manifest_status(url, "app", sig.digest) == 404, \
        "the referrer should be deleted once its subject is gone"
    leftovers = files_gone(data, [sig.digest, sig.layers[0], subject.digest, subject.layers[0]])
    assert leftovers == [], f"blob files of the subject and referrer should go: {leftovers}"


def test_referrer_whose_subject_does_not_exist_is_collected(srv):
    url, data = srv.url, srv.data
    never_pushed = image_manifest(b'{"os":"linux"}', [b"never pushed"])
    subject = Image("app", None, never_pushed, OCI_MANIFEST, {})
    dangling = push_image(url, "app", None, layers=[b"dangling-sbom"], config=b"{}",
                          config_type=OCI_EMPTY, subject=subject,
                          artifact_type="application/vnd.example.sbom")
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    assert manifest_status(url, "app", dangling.digest) == 404, \
        "an untagged referrer whose subject was never pushed should be collected"
    assert report["manifests_deleted"] == 1, report


def make_garbage(url, data):
    """An image a lifecycle rule expires, an untagged image, an unreferenced blob, an old
    orphan file, an old upload session."""
    push_image(url, "app", "keep", layers=[b"kept-layer"])
    for n in (1, 2):
        push_image(url, "app", f"old-{n}", layers=[b"old-layer-%d" % n])
    ocireg("lifecycle", "put", "app", "-", "--data", data, stdin=json.dumps({"rules": [
        {"rulePriority": 1, "action": {"type": "expire"},
         "selection": {"tagStatus": "tagged", "tagPrefixList": ["old-"],
                       "countType": "imageCountMoreThan", "countNumber": 1}}]}))
    push_image(url, "app", "drop", layers=[b"dropped-layer" * 10])
    delete_tag(url, "app", "drop")
    push_blob(url, "app", b"never-used-blob" * 7)
    place_orphan(data, b"orphan-content" * 9, age_seconds=7200)
    r = requests.post(f"{url}/v2/app/blobs/uploads/", timeout=10)
    assert r.status_code == 202, f"upload start: expected 202, got {r.status_code}"
    r = requests.patch(location(url, r), data=b"partial", timeout=10,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, f"upload chunk: expected 202, got {r.status_code}"
    aged = age_upload_files(data, 2 * 86400)
    assert aged, "expected the upload session to have files in DATA/uploads"
    settle()


def age_upload_files(data, seconds):
    folder = os.path.join(str(data), "uploads")
    past = time.time() - seconds
    names = sorted(os.listdir(folder))
    for name in names:
        os.utime(os.path.join(folder, name), (past, past))
    return names


def test_dry_run_reports_what_a_real_run_then_does_and_changes_nothing(srv):
    url, data = srv.url, srv.data
    make_garbage(url, data)
    blobs_before = tree_snapshot(os.path.join(data, "blobs"))
    uploads_before = tree_snapshot(os.path.join(data, "uploads"))

    dry = gc(data, "--dry-run", "--untagged", "--grace", "0")

    assert dry["dry_run"] is True
    assert tree_snapshot(os.path.join(data, "blobs")) == blobs_before, \
        "a dry run should leave every blob file as it was"
    assert tree_snapshot(os.path.join(data, "uploads")) == uploads_before, \
        "a dry run should leave every upload file as it was"
    counts = ("images_expired", "manifests_deleted", "blobs_deleted", "bytes_freed",
              "orphans_deleted", "orphan_bytes", "uploads_deleted")
    assert all(dry[k] > 0 for k in counts), \
        f"the dry run should have found garbage of every kind: {dry}"
    settle()

    real = gc(data, "--untagged", "--grace", "0")

    assert real["dry_run"] is False
    assert {k: real[k] for k in counts} == {k: dry[k] for k in counts}, \
        f"the real run should delete what the dry run reported: dry {dry}, real {real}"
    assert real["expired"] == dry["expired"], \
        f"the real run should expire the images the dry run named: {dry}, {real}"


@pytest.mark.parametrize("duration", ["90", "90s", "15m", "1h", "7d"])
def test_gc_accepts_the_documented_durations(srv, duration):
    report = gc(srv.data, "--grace", duration, "--upload-expiry", duration)
    assert report["blobs_deleted"] == 0 and report["dry_run"] is False


@pytest.mark.parametrize("option", ["--grace", "--upload-expiry"])
def test_gc_rejects_an_invalid_duration(srv, option):
    proc = ocireg("gc", option, "5 minutes", "--data", srv.data, check=False)
    assert proc.returncode != 0, f"gc {option} '5 minutes' should be refused"
    assert "invalid duration" in proc.stderr, f"stderr should say why: {proc.stderr!r}"


def test_blobs_without_a_manifest_are_kept_within_the_grace_period(srv):
    url, data = srv.url, srv.data
    d1, _ = push_blob(url, "app", b"blob-in-flight-1" * 10)
    d2, _ = push_blob(url, "app", b"blob-in-flight-2" * 10)
    settle()

    report = gc(data, "--untagged", "--grace", "1h")

    assert report["blobs_deleted"] == 0, f"blobs younger than --grace 1h should stay: {report}"
    for d in (d1, d2):
        assert os.path.exists(blob_path(data, d)), f"{d} was deleted within the grace period"
        assert blob_status(url, "app", d) == 200


def test_blobs_without_a_manifest_go_with_grace_zero(srv):
    url, data = srv.url, srv.data
    d1, _ = push_blob(url, "app", b"abandoned-blob-1" * 10)
    d2, _ = push_blob(url, "app", b"abandoned-blob-2" * 10)
    settle()

    report = gc(data, "--grace", "0")

    assert report["blobs_deleted"] == 2, f"expected both unreferenced blobs deleted: {report}"
    assert files_gone(data, [d1, d2]) == [], "the unreferenced blob files should be deleted"
    assert blob_status(url, "app", d1) == 404 and blob_status(url, "app", d2) == 404


def test_old_orphan_files_go_and_fresh_ones_stay(srv):
    url, data = srv.url, srv.data
    img = push_image(url, "app", "v1", layers=[b"indexed-layer"])
    old_content = b"old orphan left by a crashed commit" * 20
    old = place_orphan(data, old_content, age_seconds=2 * 3600)
    fresh = place_orphan(data, b"fresh orphan, maybe a commit in flight" * 20)

    report = gc(data, "--grace", "1h")

    assert not os.path.exists(blob_path(data, old)), "the 2 h old orphan file should be deleted"
    assert os.path.exists(blob_path(data, fresh)), \
        "an orphan file younger than --grace 1h should be kept"
    assert report["orphans_deleted"] == 1 and report["orphan_bytes"] == len(old_content), \
        f"expected 1 orphan of {len(old_content)} bytes in the report: {report}"
    assert_pulls(url, img)


def test_upload_files_older_than_the_expiry_go(srv):
    url, data = srv.url, srv.data
    r = requests.post(f"{url}/v2/app/blobs/uploads/", timeout=10)
    assert r.status_code == 202
    r = requests.patch(location(url, r), data=b"stale", timeout=10,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, f"PATCH: expected 202, got {r.status_code} {r.text}"
    aged = age_upload_files(data, 3 * 3600)
    assert aged, "expected the upload session to have files in DATA/uploads"
    r = requests.post(f"{url}/v2/app/blobs/uploads/", timeout=10)
    assert r.status_code == 202
    fresh_body = b"fresh upload content"
    r = requests.patch(location(url, r), data=fresh_body, timeout=10,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    folder = os.path.join(data, "uploads")
    fresh_files = sorted(set(os.listdir(folder)) - set(aged))
    assert fresh_files, "expected the fresh upload session to have files in DATA/uploads"

    report = gc(data, "--upload-expiry", "1h")

    left = sorted(os.listdir(folder))
    assert not set(aged) & set(left), f"upload files idle 3 h should be deleted; left: {left}"
    assert set(fresh_files) <= set(left), f"fresh upload files should stay; left: {left}"
    assert report["uploads_deleted"] == len(aged), \
        f"expected uploads_deleted == {len(aged)} (the aged files): {report}"
    d = digest_of(fresh_body)
    r = requests.put(location(url, r), params={"digest": d}, timeout=10)
    assert r.status_code == 201, \
        f"the fresh upload should still complete after gc: got {r.status_code} {r.text}"
    assert requests.get(f"{url}/v2/app/blobs/{d}", timeout=10).content == fresh_body


def test_upload_whose_files_gc_expired_is_unknown_afterwards(srv):
    """A client coming back to a session gc expired (idle longer than gc's --upload-expiry,
    shorter than the server's own) must be told the upload is unknown, not get a 5xx."""
    url, data = srv.url, srv.data
    r = requests.post(f"{url}/v2/app/blobs/uploads/", timeout=10)
    assert r.status_code == 202
    r = requests.patch(location(url, r), data=b"first half ", timeout=10,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    resume = location(url, r)
    age_upload_files(data, 2 * 3600)
    report = gc(data, "--upload-expiry", "1h")
    assert report["uploads_deleted"] >= 1 and os.listdir(os.path.join(data, "uploads")) == []

    r = requests.put(resume, params={"digest": digest_of(b"first half ")}, timeout=10)

    assert r.status_code == 404, \
        f"completing an upload whose files gc deleted: expected 404 BLOB_UPLOAD_UNKNOWN, got " \
        f"{r.status_code} {r.text}"
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN", r.text


def test_bytes_freed_is_the_sum_of_the_deleted_blob_sizes(srv):
    url, data = srv.url, srv.data
    a = push_image(url, "app", "a", layers=[b"a" * 1000, b"b" * 2345])
    b = push_image(url, "app", "b", layers=[b"c" * 777])
    keep = push_image(url, "app", "keep", layers=[b"b" * 2345])
    stray, _ = push_blob(url, "other", b"x" * 4321)
    for tag in ("a", "b"):
        delete_tag(url, "app", tag)
    before = blob_files(data)
    settle()

    report = gc(data, "--untagged", "--grace", "0")

    after = blob_files(data)
    deleted = {d: size for d, size in before.items() if d not in after}
    expected = (a.all_digests() | b.all_digests() | {stray}) - keep.all_digests()
    assert set(deleted) == expected, \
        f"deleted {sorted(deleted)}, expected {sorted(expected)}"
    assert report["blobs_deleted"] == len(deleted)
    assert report["bytes_freed"] == sum(deleted.values()), \
        f"bytes_freed {report['bytes_freed']} should equal the deleted files' sizes " \
        f"{sum(deleted.values())}"
    with db(data) as conn:
        row = conn.execute("SELECT dry_run, blobs_deleted, bytes_freed FROM gc_runs "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    assert row == (0, len(deleted), sum(deleted.values())), \
        f"the recorded gc run {row} should hold the same blob count and bytes freed"
    assert_pulls(url, keep)
