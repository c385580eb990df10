"""Push category, manifests: end-7a (PUT by tag or digest), end-7b (?tag=), size limit,
MANIFEST_BLOB_UNKNOWN / MANIFEST_INVALID / DIGEST_INVALID."""
import json

import pytest

from .oci import (EMPTY_JSON, MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_LAYER, MT_OCI_MANIFEST,
                  assert_error, descriptor, describe, digest_of, header_list, image_index,
                  image_manifest, media_type_of, platform, random_bytes, random_config)


def small_manifest(client, repo, annotations=None):
    cfg = random_config()
    layer = random_bytes(32)
    client.push_blob(repo, cfg)
    client.push_blob(repo, layer)
    return image_manifest(descriptor(MT_OCI_CONFIG, cfg), [descriptor(MT_OCI_LAYER, layer)],
                          annotations=annotations)


def test_put_manifest_by_tag_is_201_with_location_and_digest(client, repo):
    body = small_manifest(client, repo)
    r = client.put_manifest(repo, "v1", body)
    assert r.status_code == 201, f"PUT manifest by tag must be 201 Created; {describe(r)}"
    assert r.headers.get("Location"), "201 must carry Location: <pullable manifest URL>"
    assert r.headers.get("Docker-Content-Digest") == digest_of(body), (
        f"Docker-Content-Digest must be sha256 of the body {digest_of(body)}; got {r.headers.get('Docker-Content-Digest')!r}")


def test_put_manifest_location_is_pullable(client, repo):
    body = small_manifest(client, repo)
    r = client.put_manifest(repo, "v1", body)
    g = client.get(r.headers["Location"], headers={"Accept": MT_OCI_MANIFEST})
    assert g.status_code == 200 and g.content == body, describe(g)


def test_put_manifest_by_digest_is_201(client, repo):
    body = small_manifest(client, repo)
    dig = digest_of(body)
    r = client.put_manifest(repo, dig, body)
    assert r.status_code == 201, describe(r)
    assert r.headers.get("Docker-Content-Digest") == dig
    g = client.get_manifest(repo, dig)
    assert g.status_code == 200 and g.content == body


def test_put_manifest_by_digest_creates_no_tag(client, repo):
    body = small_manifest(client, repo)
    client.push_manifest(repo, digest_of(body), body)
    tags = client.tag_list(repo)
    assert not tags, f"a manifest pushed by digest must not create tags; got {tags}"


def test_manifest_is_stored_byte_exact_with_odd_formatting(client, repo):
    cfg = random_config()
    client.push_blob(repo, cfg)
    d = descriptor(MT_OCI_CONFIG, cfg)
    # unusual whitespace, key order, unicode escapes, trailing newline
    body = ('{ "layers":[],\n\t"config" : {"size":%d,"digest":"%s","mediaType":"%s"},'
            '"schemaVersion":2 ,"mediaType":"%s", "annotations":{"x":"caf\\u00e9 \u2603"}}\n'
            % (d["size"], d["digest"], d["mediaType"], MT_OCI_MANIFEST)).encode()
    dig = client.push_manifest(repo, "odd", body)
    for ref in ("odd", dig):
        g = client.get_manifest(repo, ref)
        assert g.content == body, "the registry MUST store the manifest in the exact byte representation"
        assert g.headers.get("Docker-Content-Digest") == dig


def test_put_manifest_with_sha512_digest_reference(client, repo):
    body = small_manifest(client, repo)
    dig = digest_of(body, "sha512")
    r = client.put_manifest(repo, dig, body)
    assert r.status_code == 201, f"PUT manifest by sha512 digest must be 201; {describe(r)}"
    assert r.headers.get("Docker-Content-Digest") == dig, (
        f"Docker-Content-Digest MUST equal the client provided digest {dig}; got {r.headers.get('Docker-Content-Digest')!r}")
    g = client.get_manifest(repo, dig)
    assert g.status_code == 200 and g.content == body, describe(g)
    assert g.headers.get("Docker-Content-Digest") == dig


def test_manifest_referencing_sha512_blobs(client, repo):
    cfg, layer = random_config(), random_bytes(40)
    client.push_blob(repo, cfg, algo="sha512")
    client.push_blob(repo, layer, algo="sha512")
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg, "sha512"),
                          [descriptor(MT_OCI_LAYER, layer, "sha512")])
    r = client.put_manifest(repo, "sha512-blobs", body)
    assert r.status_code == 201, f"descriptors with sha512 digests of pushed blobs must be accepted; {describe(r)}"


def test_put_manifest_digest_mismatch_is_400_digest_invalid(client, repo):
    body = small_manifest(client, repo)
    wrong = digest_of(body + b" ")
    r = client.put_manifest(repo, wrong, body)
    assert_error(r, 400, "DIGEST_INVALID")
    assert client.get_manifest(repo, wrong).status_code == 404
    assert client.get_manifest(repo, digest_of(body)).status_code == 404, "rejected manifest must not be stored"


def test_put_manifest_with_missing_layer_is_400_manifest_blob_unknown(client, repo):
    cfg = random_config()
    client.push_blob(repo, cfg)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [descriptor(MT_OCI_LAYER, b"never pushed layer")])
    r = client.put_manifest(repo, "broken", body)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert client.get_manifest(repo, "broken").status_code == 404


def test_put_manifest_with_missing_config_is_400_manifest_blob_unknown(client, repo):
    layer = random_bytes(20)
    client.push_blob(repo, layer)
    body = image_manifest(descriptor(MT_OCI_CONFIG, b'{"never":"pushed"}'), [descriptor(MT_OCI_LAYER, layer)])
    r = client.put_manifest(repo, "broken", body)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


def test_put_manifest_with_blob_from_other_repository_is_400(client, new_repo):
    a, b = new_repo(), new_repo()
    cfg, layer = random_config(), random_bytes(20)
    client.push_blob(a, cfg)
    client.push_blob(a, layer)
    client.push_blob(b, cfg)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [descriptor(MT_OCI_LAYER, layer)])
    r = client.put_manifest(b, "x", body)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


def test_put_index_with_missing_child_is_400_manifest_blob_unknown(client, repo):
    present = client.push_image(repo)
    missing = {"mediaType": MT_OCI_MANIFEST, "digest": digest_of(b"no such manifest"), "size": 16}
    body = image_index([present.desc, missing])
    r = client.put_manifest(repo, "idx", body, MT_OCI_INDEX)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


def test_put_manifest_not_json_is_400_manifest_invalid(client, repo):
    r = client.put_manifest(repo, "garbage", b"this is not json {")
    assert_error(r, 400, "MANIFEST_INVALID")
    assert client.get_manifest(repo, "garbage").status_code == 404


def test_put_manifest_empty_body_is_400_manifest_invalid(client, repo):
    r = client.put_manifest(repo, "empty", b"")
    assert_error(r, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("body", [
    b"[]", b"42", b'"string"', b"null",
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": "nope", "layers": []}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "a/b", "digest": "sha256:zz", "size": 2}, "layers": []}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": 5}',
], ids=["array", "number", "string", "null", "no-config", "config-not-object", "bad-digest", "manifests-not-array"])
def test_put_structurally_invalid_manifest_is_400(client, repo, body):
    mt = MT_OCI_INDEX if b"index" in body else MT_OCI_MANIFEST
    r = client.put_manifest(repo, "invalid", body, mt)
    assert_error(r, 400, "MANIFEST_INVALID", "DIGEST_INVALID")
    assert client.get_manifest(repo, "invalid").status_code == 404


def test_put_manifest_larger_than_4_mib_is_413(client, repo):
    cfg = random_config()
    client.push_blob(repo, cfg)
    big = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [],
                         annotations={"pad": "x" * (4 * 1024 * 1024 + 1024)})
    r = client.put_manifest(repo, "huge", big)
    assert r.status_code in (413, 400), f"manifest over the size limit: expected 413 (or 400); {describe(r)}"
    assert_error(r, (413, 400), "MANIFEST_INVALID", "SIZE_INVALID")
    assert client.get_manifest(repo, "huge").status_code == 404
    assert client.get("/v2/").status_code == 200


def test_put_manifest_of_about_4_mb_is_accepted(client, repo):
    """Clients and registries SHOULD expect to support manifest pushes of at least 4 megabytes."""
    cfg = random_config()
    client.push_blob(repo, cfg)
    base = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [], annotations={"pad": ""})
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [],
                          annotations={"pad": "y" * (4_000_000 - len(base))})
    assert len(body) == 4_000_000
    r = client.put_manifest(repo, "big", body)
    assert r.status_code == 201, f"a 4,000,000-byte manifest should be accepted; {describe(r)}"
    assert client.get_manifest(repo, "big").content == body


def test_put_same_manifest_twice_is_idempotent(client, repo):
    body = small_manifest(client, repo)
    assert client.put_manifest(repo, "a", body).status_code == 201
    r = client.put_manifest(repo, "a", body)
    assert r.status_code == 201, describe(r)
    assert client.get_manifest(repo, "a").content == body


def test_retag_moves_tag_to_new_manifest(client, repo):
    one = small_manifest(client, repo, annotations={"n": "1"})
    two = small_manifest(client, repo, annotations={"n": "2"})
    client.push_manifest(repo, "moving", one)
    client.push_manifest(repo, "moving", two)
    g = client.get_manifest(repo, "moving")
    assert g.content == two, "a tag must point at the latest manifest pushed to it"
    assert client.get_manifest(repo, digest_of(one)).content == one, "the old manifest stays reachable by digest"


def test_tag_moves_from_index_to_manifest(client, repo):
    img = client.push_image(repo)
    idx = image_index([dict(img.desc, platform=platform())])
    client.push_manifest(repo, "multi", idx, MT_OCI_INDEX)
    assert media_type_of(client.get_manifest(repo, "multi")) == MT_OCI_INDEX
    client.push_manifest(repo, "multi", img.body, MT_OCI_MANIFEST)
    g = client.get_manifest(repo, "multi")
    assert g.content == img.body, "tag must now resolve to the image manifest"
    assert media_type_of(g) == MT_OCI_MANIFEST, f"Content-Type must follow the tag's new target; got {g.headers.get('Content-Type')!r}"
    assert client.get_manifest(repo, digest_of(idx)).content == idx


def test_push_manifest_with_many_tags_to_same_digest(client, repo):
    body = small_manifest(client, repo)
    for t in ("a", "b", "c"):
        client.push_manifest(repo, t, body)
    for t in ("a", "b", "c"):
        g = client.get_manifest(repo, t)
        assert g.status_code == 200 and g.content == body


def test_valid_tag_grammar_edge_cases_are_accepted(client, repo):
    body = small_manifest(client, repo)
    for tag in ("_", "A", "9", "x" * 128, "v1.0.0-rc_1", "UPPER_lower.1-2"):
        r = client.put_manifest(repo, tag, body)
        assert r.status_code == 201, f"tag {tag!r} matches [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}: must be accepted; {describe(r)}"
        assert client.get_manifest(repo, tag).content == body


# --- end-7b: PUT by digest with ?tag= -----------------------------------------------

def test_put_by_digest_with_tag_params(client, repo):
    """If the registry supports ?tag=, it MUST send an OCI-Tag header listing each
    accepted tag, and those tags must then exist. Without support the tags are ignored."""
    body = small_manifest(client, repo)
    dig = digest_of(body)
    wanted = ["1.2.3", "1.2", "1", "latest"]
    r = client.put_manifest(repo, dig, body, params=[("tag", t) for t in wanted])
    assert r.status_code == 201, f"PUT by digest with ?tag= must still be 201; {describe(r)}"
    oci_tag = header_list(r, "OCI-Tag")
    listed = client.tag_list(repo) or []
    if oci_tag is None:
        assert not set(wanted) & set(listed), (
            f"tags {sorted(set(wanted) & set(listed))} were created but no OCI-Tag header was sent "
            "(a registry supporting ?tag= MUST include OCI-Tag for each accepted tag)")
        pytest.skip("registry does not support ?tag= on PUT by digest (optional)")
    assert sorted(oci_tag) == sorted(wanted), f"OCI-Tag must list each accepted tag {wanted}; got {oci_tag}"
    assert sorted(listed) == sorted(wanted), f"accepted tags must appear in tags/list; got {listed}"
    for t in wanted:
        g = client.get_manifest(repo, t)
        assert g.status_code == 200 and g.content == body, f"tag {t} must resolve to the manifest"


def test_put_by_digest_with_ten_tags(client, repo):
    body = small_manifest(client, repo)
    wanted = [f"t{i}" for i in range(10)]
    r = client.put_manifest(repo, digest_of(body), body, params=[("tag", t) for t in wanted])
    assert r.status_code in (201, 414), describe(r)
    oci_tag = header_list(r, "OCI-Tag")
    if oci_tag is None:
        pytest.skip("registry does not support ?tag= on PUT by digest (optional)")
    assert sorted(oci_tag) == sorted(wanted), "registries supporting ?tag= SHOULD accept at least 10 tags"
    assert sorted(client.tag_list(repo)) == sorted(wanted)


def test_put_by_digest_with_invalid_tag_param_is_rejected(client, repo):
    body = small_manifest(client, repo)
    r = client.put_manifest(repo, digest_of(body), body, params=[("tag", "good"), ("tag", "-bad")])
    if r.status_code == 201:
        oci_tag = header_list(r, "OCI-Tag") or []
        assert "-bad" not in oci_tag, "an invalid tag must never be reported as accepted"
        assert "-bad" not in (client.tag_list(repo) or [])
    else:
        assert_error(r, 400, "TAG_INVALID", "MANIFEST_INVALID")
        assert not client.tag_list(repo), "a rejected request must create no tags"


def test_content_type_parameters_are_ignored_on_put(client, repo):
    body = small_manifest(client, repo)
    r = client.put_manifest(repo, "params", body, MT_OCI_MANIFEST + "; charset=utf-8")
    assert r.status_code == 201, f"the registry SHOULD ignore parameters on Content-Type; {describe(r)}"
    g = client.get_manifest(repo, "params")
    assert media_type_of(g) == MT_OCI_MANIFEST
    assert ";" not in g.headers.get("Content-Type", ""), "the registry SHOULD NOT include parameters on Content-Type"


def test_push_empty_blob_and_artifact_with_empty_config(client, repo):
    dig = client.push_blob(repo, EMPTY_JSON)
    assert dig == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    art = client.push_artifact(repo, "application/vnd.example.thing.v1", tag="art")
    g = client.get_manifest(repo, "art")
    assert g.status_code == 200 and g.content == art.body
    assert json.loads(g.content)["artifactType"] == "application/vnd.example.thing.v1"


def test_put_index_with_child_from_other_repository_is_400(client, new_repo):
    a, b = new_repo(), new_repo()
    child = client.push_image(a)
    client.push_image(b)
    idx = image_index([child.desc])
    r = client.put_manifest(b, "idx", idx, MT_OCI_INDEX)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


def test_put_manifest_without_content_type_header(client, repo):
    """Clients SHOULD send Content-Type; without it the registry may use the mediaType
    field (201) or refuse (400 MANIFEST_INVALID)."""
    body = small_manifest(client, repo)
    r = client.put(f"/v2/{repo}/manifests/noct", data=body)
    assert r.status_code in (201, 400), describe(r)
    if r.status_code == 201:
        g = client.get_manifest(repo, "noct")
        assert g.content == body
        assert media_type_of(g) == MT_OCI_MANIFEST, "Content-Type should come from the mediaType field"
    else:
        assert_error(r, 400, "MANIFEST_INVALID")
