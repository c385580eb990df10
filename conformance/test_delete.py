"""Content management: end-9 (DELETE manifest by tag or digest), end-10 (DELETE blob)."""
from .oci import assert_error, describe, digest_of, random_bytes


def test_delete_blob_is_202_then_404(client, repo):
    data = random_bytes(64)
    dig = client.push_blob(repo, data)
    r = client.delete(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 202, f"DELETE blob must be 202 Accepted; {describe(r)}"
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert_error(g, 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{repo}/blobs/{dig}").status_code == 404


def test_delete_unknown_blob_is_404_blob_unknown(client, repo):
    client.push_blob(repo, b"make repo exist")
    r = client.delete(f"/v2/{repo}/blobs/{digest_of(random_bytes(8))}")
    assert_error(r, 404, "BLOB_UNKNOWN")


def test_delete_blob_twice_is_404(client, repo):
    dig = client.push_blob(repo, random_bytes(10))
    assert client.delete(f"/v2/{repo}/blobs/{dig}").status_code == 202
    assert_error(client.delete(f"/v2/{repo}/blobs/{dig}"), 404, "BLOB_UNKNOWN")


def test_blob_can_be_pushed_again_after_delete(client, repo):
    data = random_bytes(64)
    dig = client.push_blob(repo, data)
    assert client.delete(f"/v2/{repo}/blobs/{dig}").status_code == 202
    client.push_blob(repo, data)
    assert client.get(f"/v2/{repo}/blobs/{dig}").content == data


def test_delete_manifest_by_digest_is_202_then_404(client, image):
    r = client.delete(f"/v2/{image.repo}/manifests/{image.digest}")
    assert r.status_code == 202, f"DELETE manifest by digest must be 202; {describe(r)}"
    assert_error(client.get_manifest(image.repo, image.digest), 404, "MANIFEST_UNKNOWN")


def test_delete_manifest_by_digest_removes_its_tags(client, image):
    client.push_manifest(image.repo, "other", image.body)
    assert client.delete(f"/v2/{image.repo}/manifests/{image.digest}").status_code == 202
    for t in ("latest", "other"):
        assert_error(client.get_manifest(image.repo, t), 404, "MANIFEST_UNKNOWN")
    tags = client.tag_list(image.repo)
    assert not tags, f"tags pointing at a deleted manifest must be gone from tags/list; got {tags}"


def test_delete_tag_is_202_and_removes_only_that_tag(client, image):
    client.push_manifest(image.repo, "keep", image.body)
    r = client.delete(f"/v2/{image.repo}/manifests/latest")
    assert r.status_code == 202, f"DELETE by tag must be 202; {describe(r)}"
    assert_error(client.get_manifest(image.repo, "latest"), 404, "MANIFEST_UNKNOWN")
    g = client.get_manifest(image.repo, image.digest)
    assert g.status_code == 200 and g.content == image.body, "the manifest must stay reachable by digest"
    g = client.get_manifest(image.repo, "keep")
    assert g.status_code == 200 and g.content == image.body, "other tags must keep pointing at the manifest"
    assert client.tag_list(image.repo) == ["keep"]


def test_delete_unknown_tag_is_404(client, image):
    r = client.delete(f"/v2/{image.repo}/manifests/no-such-tag")
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_delete_unknown_manifest_digest_is_404(client, image):
    r = client.delete(f"/v2/{image.repo}/manifests/{digest_of(random_bytes(8))}")
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_delete_manifest_in_unknown_repository_is_404(client, new_repo):
    r = client.delete(f"/v2/{new_repo()}/manifests/{digest_of(b'x')}")
    assert_error(r, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_manifest_can_be_pushed_again_after_delete(client, image):
    assert client.delete(f"/v2/{image.repo}/manifests/{image.digest}").status_code == 202
    r = client.put_manifest(image.repo, "again", image.body)
    assert r.status_code == 201, describe(r)
    assert client.get_manifest(image.repo, "again").content == image.body


def test_deleting_manifest_keeps_its_blobs(client, image):
    assert client.delete(f"/v2/{image.repo}/manifests/{image.digest}").status_code == 202
    for b in [image.config] + image.layers:
        assert client.get(f"/v2/{image.repo}/blobs/{digest_of(b)}").status_code == 200, (
            "deleting a manifest must not synchronously delete its blobs")


def test_delete_manifest_in_one_repository_keeps_it_in_another(client, image, new_repo):
    other = new_repo()
    for b in [image.config] + image.layers:
        client.push_blob(other, b)
    client.push_manifest(other, "latest", image.body)
    assert client.delete(f"/v2/{image.repo}/manifests/{image.digest}").status_code == 202
    g = client.get_manifest(other, "latest")
    assert g.status_code == 200 and g.content == image.body


def test_delete_index_keeps_children(client, repo):
    from .oci import MT_OCI_INDEX, image_index, platform
    img = client.push_image(repo)
    idx = image_index([dict(img.desc, platform=platform())])
    d = client.push_manifest(repo, "idx", idx, MT_OCI_INDEX)
    assert client.delete(f"/v2/{repo}/manifests/{d}").status_code == 202
    assert client.get_manifest(repo, img.digest).status_code == 200


def test_manifest_referencing_deleted_blob_is_rejected(client, repo):
    from .oci import MT_OCI_CONFIG, MT_OCI_LAYER, descriptor, image_manifest, random_config
    cfg, layer = random_config(), random_bytes(30)
    client.push_blob(repo, cfg)
    dig = client.push_blob(repo, layer)
    assert client.delete(f"/v2/{repo}/blobs/{dig}").status_code == 202
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [descriptor(MT_OCI_LAYER, layer)])
    r = client.put_manifest(repo, "t", body)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
