"""Manifest media types round-trip: OCI manifest/index, Docker schema2 manifest and
manifest list, artifacts with artifactType and the empty config."""
import json

from .oci import (EMPTY_DIGEST, EMPTY_JSON, MT_DOCKER_LIST, MT_DOCKER_MANIFEST,
                  MT_OCI_CONFIG, MT_OCI_EMPTY, MT_OCI_INDEX, MT_OCI_LAYER, MT_OCI_MANIFEST,
                  descriptor, describe, digest_of, empty_descriptor, image_index,
                  image_manifest, media_type_of, platform, random_bytes, random_config)


def roundtrip(client, repo, tag, body, mt):
    dig = client.push_manifest(repo, tag, body, mt)
    for ref in (tag, dig):
        g = client.get_manifest(repo, ref)
        assert g.status_code == 200, describe(g)
        assert g.content == body, f"{mt} must round-trip byte-exact"
        assert media_type_of(g) == mt, f"Content-Type must be {mt}; got {g.headers.get('Content-Type')!r}"
        assert g.headers.get("Docker-Content-Digest") == dig
        h = client.head_manifest(repo, ref)
        assert h.status_code == 200 and media_type_of(h) == mt
        assert h.headers.get("Content-Length") == str(len(body))
    return dig


def test_oci_image_manifest_roundtrip(client, repo):
    img = client.push_image(repo, tag="oci", layers=2)
    roundtrip(client, repo, "oci", img.body, MT_OCI_MANIFEST)


def test_oci_index_roundtrip(client, repo):
    a = client.push_image(repo)
    b = client.push_image(repo)
    idx = image_index([dict(a.desc, platform=platform("amd64")), dict(b.desc, platform=platform("arm64"))])
    roundtrip(client, repo, "multi", idx, MT_OCI_INDEX)


def test_nested_index_roundtrip(client, repo):
    a = client.push_image(repo)
    inner = image_index([a.desc])
    inner_dig = client.push_manifest(repo, digest_of(inner), inner, MT_OCI_INDEX)
    outer = image_index([{"mediaType": MT_OCI_INDEX, "digest": inner_dig, "size": len(inner)}])
    roundtrip(client, repo, "nested", outer, MT_OCI_INDEX)


def test_docker_schema2_manifest_roundtrip(client, repo):
    img = client.push_image(repo, tag="docker", media_type=MT_DOCKER_MANIFEST)
    roundtrip(client, repo, "docker", img.body, MT_DOCKER_MANIFEST)


def test_docker_manifest_list_roundtrip(client, repo):
    a = client.push_image(repo, media_type=MT_DOCKER_MANIFEST)
    b = client.push_image(repo, media_type=MT_DOCKER_MANIFEST)
    lst = image_index([dict(a.desc, platform=platform("amd64")), dict(b.desc, platform=platform("arm64"))],
                      media_type=MT_DOCKER_LIST)
    roundtrip(client, repo, "list", lst, MT_DOCKER_LIST)


def test_docker_manifest_list_with_missing_child_is_rejected(client, repo):
    from .oci import assert_error
    a = client.push_image(repo, media_type=MT_DOCKER_MANIFEST)
    missing = {"mediaType": MT_DOCKER_MANIFEST, "digest": digest_of(b"nope"), "size": 4}
    lst = image_index([a.desc, missing], media_type=MT_DOCKER_LIST)
    assert_error(client.put_manifest(repo, "list", lst, MT_DOCKER_LIST), 400, "MANIFEST_BLOB_UNKNOWN")


def test_artifact_with_empty_config_roundtrip(client, repo):
    dig = client.push_blob(repo, EMPTY_JSON)
    assert dig == EMPTY_DIGEST, "the empty descriptor digest must match image-spec"
    g = client.get(f"/v2/{repo}/blobs/{EMPTY_DIGEST}")
    assert g.content == b"{}"
    payload = random_bytes(64)
    client.push_blob(repo, payload)
    body = image_manifest(empty_descriptor(), [descriptor("application/vnd.example.data", payload)],
                          artifact_type="application/vnd.example.artifact.v1")
    roundtrip(client, repo, "artifact", body, MT_OCI_MANIFEST)
    assert json.loads(client.get_manifest(repo, "artifact").content)["config"]["mediaType"] == MT_OCI_EMPTY


def test_artifact_with_empty_layer(client, repo):
    """image-spec: an artifact without payload uses the empty descriptor as its one layer."""
    client.push_blob(repo, EMPTY_JSON)
    body = image_manifest(empty_descriptor(), [empty_descriptor()],
                          artifact_type="application/vnd.example.marker.v1",
                          annotations={"org.example.note": "hello"})
    roundtrip(client, repo, "marker", body, MT_OCI_MANIFEST)


def test_artifact_with_inline_data_descriptor(client, repo):
    client.push_blob(repo, EMPTY_JSON)
    cfg = dict(empty_descriptor(), data="e30=")
    body = image_manifest(cfg, [empty_descriptor()], artifact_type="application/vnd.example.v1")
    roundtrip(client, repo, "inline", body, MT_OCI_MANIFEST)


def test_index_with_artifact_type(client, repo):
    a = client.push_image(repo)
    idx = image_index([a.desc], artifact_type="application/vnd.example.bundle.v1")
    roundtrip(client, repo, "bundle", idx, MT_OCI_INDEX)


def test_manifest_without_media_type_field_uses_content_type(client, repo):
    cfg = random_config()
    client.push_blob(repo, cfg)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [], include_media_type=False)
    r = client.put_manifest(repo, "nomt", body, MT_OCI_MANIFEST)
    assert r.status_code == 201, describe(r)
    g = client.get_manifest(repo, "nomt")
    assert g.content == body
    assert media_type_of(g) == MT_OCI_MANIFEST, (
        f"Content-Type SHOULD match what the client pushed; got {g.headers.get('Content-Type')!r}")


def test_manifest_with_foreign_layer_urls_and_annotations(client, repo):
    cfg, layer = random_config(), random_bytes(30)
    client.push_blob(repo, cfg)
    client.push_blob(repo, layer)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg),
                          [descriptor(MT_OCI_LAYER, layer, annotations={"org.opencontainers.image.title": "x.tar"})],
                          annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    roundtrip(client, repo, "annotated", body, MT_OCI_MANIFEST)


def test_accept_header_with_only_matching_type(client, repo):
    img = client.push_image(repo, tag="t")
    g = client.get_manifest(repo, "t", accept=MT_OCI_MANIFEST)
    assert g.status_code == 200 and g.content == img.body and media_type_of(g) == MT_OCI_MANIFEST


def test_get_manifest_without_accept_header(client, repo):
    """No Accept: a v2 registry still returns the stored OCI manifest (no schema1 conversion)."""
    img = client.push_image(repo, tag="t")
    g = client.get(f"/v2/{repo}/manifests/t", headers={"Accept": None})
    assert g.status_code in (200, 404, 406), describe(g)
    if g.status_code == 200:
        assert g.content == img.body
