"""Repository administration (`ocireg repo`, `ocireg image list`), tag immutability and
`serve --create-on-push false`, driven through the CLI against the data folder of a running
server and checked over the Distribution API."""
import calendar
import os
import time

import pytest
import requests

from regutil import (assert_pulls, blob_path, cli_json, digest_of, gc, image_manifest,
                     manifest_status, ocireg, push_blob, push_image, put_manifest, settle)


@pytest.fixture
def srv(registry_factory):
    return registry_factory()


def iso_to_unix(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def table_rows(stdout):
    """The rows of a CLI table (header dropped), each split on whitespace."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    return lines[1:]


def test_repo_create_list_and_describe_in_table_and_json(srv):
    data = srv.data
    t0 = int(time.time())
    ocireg("repo", "create", "team/app", "--mutability", "IMMUTABLE", "--data", data)
    ocireg("repo", "create", "lib", "--data", data)
    t1 = int(time.time())

    listed = cli_json("repo", "list", "--json", "--data", data)
    assert [r["name"] for r in listed] == ["lib", "team/app"], f"repo list --json: {listed}"
    by_name = {r["name"]: r for r in listed}
    assert by_name["team/app"]["tag_mutability"] == "IMMUTABLE"
    assert by_name["lib"]["tag_mutability"] == "MUTABLE", "the default mutability is MUTABLE"
    for r in listed:
        assert (r["images"], r["tags"], r["size_bytes"], r["lifecycle_policy"]) == \
            (0, 0, 0, False), f"a new repository should be empty: {r}"
        assert t0 <= iso_to_unix(r["created_at"]) <= t1, f"created_at out of range: {r}"

    rows = table_rows(ocireg("repo", "list", "--data", data).stdout)
    assert [row[:2] for row in rows] == [["lib", "MUTABLE"], ["team/app", "IMMUTABLE"]], \
        f"repo list table rows: {rows}"

    described = cli_json("repo", "describe", "team/app", "--json", "--data", data)
    assert described == by_name["team/app"], \
        f"describe --json should be the object repo list shows: {described}"
    rows = table_rows(ocireg("repo", "describe", "team/app", "--data", data).stdout)
    assert rows == [["team/app", "IMMUTABLE", "0", "0", "0"]], f"describe table: {rows}"


def test_repo_create_of_an_existing_repository_fails(srv):
    ocireg("repo", "create", "app", "--data", srv.data)
    proc = ocireg("repo", "create", "app", "--data", srv.data, check=False)
    assert proc.returncode != 0, "creating a repository twice should fail"
    assert "already exists" in proc.stderr, f"stderr should say it exists: {proc.stderr!r}"


def test_repo_describe_and_delete_of_an_unknown_repository_fail(srv):
    for verb in (["describe", "nope"], ["delete", "nope"], ["set-mutability", "nope", "MUTABLE"]):
        proc = ocireg("repo", *verb, "--data", srv.data, check=False)
        assert proc.returncode != 0, f"repo {verb[0]} of an unknown repository should fail"
        assert "nope" in proc.stderr and "does not exist" in proc.stderr, \
            f"repo {verb[0]}: stderr should name the missing repository: {proc.stderr!r}"


def test_repo_create_rejects_an_unknown_mutability(srv):
    proc = ocireg("repo", "create", "app", "--mutability", "SOMETIMES", "--data", srv.data,
                  check=False)
    assert proc.returncode != 0 and "MUTABLE" in proc.stderr, proc.stderr
    assert cli_json("repo", "list", "--json", "--data", srv.data) == []


def test_repo_describe_counts_images_and_tags(srv):
    url = srv.url
    img = push_image(url, "app", "v1", layers=[b"layer-one" * 10])
    assert put_manifest(url, "app", "latest", img.manifest).status_code == 201
    push_image(url, "app", None, layers=[b"layer-two"])
    info = cli_json("repo", "describe", "app", "--json", "--data", srv.data)
    assert (info["images"], info["tags"]) == (2, 2), \
        f"expected 2 images and 2 tags (v1, latest): {info}"
    assert info["size_bytes"] >= len(img.manifest) + sum(map(len, img.blobs.values()))


def test_repo_delete_of_an_empty_repository(srv):
    ocireg("repo", "create", "empty", "--data", srv.data)
    ocireg("repo", "delete", "empty", "--data", srv.data)
    assert cli_json("repo", "list", "--json", "--data", srv.data) == []


def test_repo_delete_with_images_needs_force(srv):
    url, data = srv.url, srv.data
    img = push_image(url, "app", "v1", layers=[b"app-layer" * 20])

    proc = ocireg("repo", "delete", "app", "--data", data, check=False)

    assert proc.returncode != 0, "deleting a repository with images without --force should fail"
    assert "--force" in proc.stderr, f"the message should point at --force: {proc.stderr!r}"
    assert [r["name"] for r in cli_json("repo", "list", "--json", "--data", data)] == ["app"]
    assert_pulls(url, img)


def test_repo_delete_force_removes_the_images_and_gc_frees_their_blobs(srv):
    url, data = srv.url, srv.data
    img = push_image(url, "app", "v1", layers=[b"app-layer" * 20])
    other = push_image(url, "other", "v1", layers=[b"other-layer"])

    ocireg("repo", "delete", "app", "--force", "--data", data)

    assert [r["name"] for r in cli_json("repo", "list", "--json", "--data", data)] == ["other"]
    assert manifest_status(url, "app", "v1") == 404, "the deleted repository's tag should 404"
    assert manifest_status(url, "app", img.digest) == 404
    settle()
    report = gc(data, "--grace", "0")
    left = [d for d in img.all_digests() if os.path.exists(blob_path(data, d))]
    assert left == [], f"gc should free the blobs of the deleted repository: {left}, {report}"
    assert_pulls(url, other)


def test_repo_set_mutability_is_shown_by_describe(srv):
    ocireg("repo", "create", "app", "--data", srv.data)
    ocireg("repo", "set-mutability", "app", "IMMUTABLE", "--data", srv.data)
    assert cli_json("repo", "describe", "app", "--json", "--data", srv.data)[
        "tag_mutability"] == "IMMUTABLE"
    ocireg("repo", "set-mutability", "app", "MUTABLE", "--data", srv.data)
    assert cli_json("repo", "describe", "app", "--json", "--data", srv.data)[
        "tag_mutability"] == "MUTABLE"


@pytest.fixture
def immutable(srv):
    """An IMMUTABLE repository with image `first` tagged v1, and a second image's manifest
    (blobs pushed) ready to be put."""
    ocireg("repo", "create", "app", "--mutability", "IMMUTABLE", "--data", srv.data)
    first = push_image(srv.url, "app", "v1", layers=[b"first-layer"])
    second = push_image(srv.url, "app", None, layers=[b"second-layer"])
    return srv, first, second


def test_immutable_repository_refuses_moving_a_tag(immutable):
    srv, first, second = immutable
    r = put_manifest(srv.url, "app", "v1", second.manifest)
    assert r.status_code == 400, \
        f"moving tag v1 in an IMMUTABLE repository: expected 400, got {r.status_code} {r.text}"
    err = r.json()["errors"][0]
    assert err["code"] == "TAG_INVALID", f"expected TAG_INVALID: {err}"
    assert "v1" in err["message"] and "immutable" in err["message"].lower(), \
        f"the message should name the tag and say the repository is immutable: {err}"
    assert_pulls(srv.url, first, "v1")


def test_immutable_repository_accepts_the_same_manifest_again(immutable):
    srv, first, _ = immutable
    r = put_manifest(srv.url, "app", "v1", first.manifest)
    assert r.status_code == 201, \
        f"re-pushing the same manifest to v1: expected 201, got {r.status_code} {r.text}"
    assert_pulls(srv.url, first, "v1")


def test_immutable_repository_accepts_a_new_tag(immutable):
    srv, _, second = immutable
    r = put_manifest(srv.url, "app", "v2", second.manifest)
    assert r.status_code == 201, f"a new tag: expected 201, got {r.status_code} {r.text}"
    assert_pulls(srv.url, second, "v2")


def test_switching_back_to_mutable_allows_overwriting_a_tag(immutable):
    srv, _, second = immutable
    ocireg("repo", "set-mutability", "app", "MUTABLE", "--data", srv.data)
    r = put_manifest(srv.url, "app", "v1", second.manifest)
    assert r.status_code == 201, \
        f"overwriting v1 after set-mutability MUTABLE: expected 201, got {r.status_code} {r.text}"
    assert_pulls(srv.url, second, "v1")


def name_unknown(r, what):
    assert r.status_code == 404, \
        f"{what} to a repository that does not exist: expected 404, got {r.status_code} {r.text}"
    assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN", f"{what}: {r.text}"


def test_create_on_push_false_refuses_pushes_to_unknown_repositories(registry_factory):
    srv = registry_factory(extra_args=["--create-on-push", "false"])
    url, data = srv.url, srv.data
    layer, config = b"layer-bytes", b'{"os":"linux"}'
    ocireg("repo", "create", "known", "--data", data)
    for blob in (layer, config):
        push_blob(url, "known", blob)

    _, r = push_blob(url, "unknown", layer, check=False)
    name_unknown(r, "monolithic blob upload")
    r = requests.post(f"{url}/v2/unknown/blobs/uploads/", timeout=10)
    name_unknown(r, "upload start")
    r = requests.post(f"{url}/v2/unknown/blobs/uploads/", timeout=10,
                      params={"mount": digest_of(layer), "from": "known"})
    name_unknown(r, "cross-repository mount")
    r = put_manifest(url, "unknown", "v1", image_manifest(config, [layer]))
    name_unknown(r, "manifest PUT")
    assert [x["name"] for x in cli_json("repo", "list", "--json", "--data", data)] == ["known"], \
        "refused pushes should not create the repository"


def test_create_on_push_false_accepts_pushes_after_repo_create(registry_factory):
    srv = registry_factory(extra_args=["--create-on-push", "false"])
    _, r = push_blob(srv.url, "app", b"x", check=False)
    assert r.status_code == 404
    ocireg("repo", "create", "app", "--data", srv.data)
    img = push_image(srv.url, "app", "v1", layers=[b"now-allowed"])
    assert_pulls(srv.url, img)


def test_image_list_json_shows_sizes_push_times_and_tags(srv):
    url, data = srv.url, srv.data
    t0 = int(time.time())
    tagged = push_image(url, "app", "v1", layers=[b"a" * 1234, b"b" * 4321])
    assert put_manifest(url, "app", "latest", tagged.manifest).status_code == 201
    untagged = push_image(url, "app", None, layers=[b"c" * 99])
    t1 = int(time.time())

    images = {i["digest"]: i for i in cli_json("image", "list", "app", "--json", "--data", data)}

    assert set(images) == {tagged.digest, untagged.digest}, f"image list: {images}"
    for img, tags in ((tagged, ["latest", "v1"]), (untagged, [])):
        row = images[img.digest]
        expected = len(img.manifest) + sum(len(b) for b in img.blobs.values())
        assert row["size_bytes"] == expected, \
            f"size_bytes should be manifest + config + layers = {expected}: {row}"
        assert sorted(row["tags"]) == tags, f"tags of {img.digest}: {row}"
        assert t0 <= iso_to_unix(row["pushed_at"]) <= t1, f"pushed_at out of range: {row}"
        assert row["media_type"] == img.media_type

    table = ocireg("image", "list", "app", "--data", data).stdout
    row = [r for r in table_rows(table) if r[0] == tagged.digest]
    assert row and str(images[tagged.digest]["size_bytes"]) in row[0], \
        f"the table should show the digest and size: {table}"


def test_image_list_of_an_unknown_repository_fails(srv):
    proc = ocireg("image", "list", "nope", "--json", "--data", srv.data, check=False)
    assert proc.returncode != 0 and "no such repository" in proc.stderr, proc.stderr
