"""Referrers API: OCI-Subject on push, end-12a GET /v2/<name>/referrers/<digest>,
end-12b ?artifactType= with OCI-Filters-Applied."""
from .oci import (EMPTY_JSON, MT_OCI_INDEX, MT_OCI_MANIFEST, assert_error, describe,
                  descriptor, digest_of, empty_descriptor, image_index, image_manifest,
                  media_type_of, random_bytes)

SBOM = "application/vnd.example.sbom.v1"
SIG = "application/vnd.example.signature.v1"


def referrers(client, repo, dig, **params):
    return client.get(f"/v2/{repo}/referrers/{dig}", params=params or None)


def manifests_of(r):
    assert r.status_code == 200, f"referrers API must return 200; {describe(r)}"
    body = r.json()
    return body.get("manifests") or []


def test_push_with_subject_returns_oci_subject(client, image):
    art_annotations = {"org.example.sbom.format": "json"}
    client.push_blob(image.repo, EMPTY_JSON)
    payload = random_bytes(16)
    client.push_blob(image.repo, payload)
    body = image_manifest(empty_descriptor(), [descriptor("application/octet-stream", payload)],
                          subject=image.desc, artifact_type=SBOM, annotations=art_annotations)
    r = client.put_manifest(image.repo, digest_of(body), body)
    assert r.status_code == 201, describe(r)
    assert r.headers.get("OCI-Subject") == image.digest, (
        f"a registry supporting referrers MUST answer OCI-Subject: {image.digest}; got {r.headers.get('OCI-Subject')!r}")


def test_referrers_lists_artifact_with_descriptor_fields(client, image):
    ann = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "org.example.sbom.format": "json"}
    art = client.push_artifact(image.repo, SBOM, subject=image.desc, annotations=ann)
    r = referrers(client, image.repo, image.digest)
    assert media_type_of(r) == MT_OCI_INDEX, f"referrers Content-Type MUST be {MT_OCI_INDEX}; got {r.headers.get('Content-Type')!r}"
    body = r.json()
    assert body.get("schemaVersion") == 2 and body.get("mediaType") == MT_OCI_INDEX, body
    ms = body["manifests"]
    assert len(ms) == 1, f"expected exactly the one referrer; got {ms}"
    d = ms[0]
    assert d["digest"] == art.digest
    assert d["mediaType"] == MT_OCI_MANIFEST
    assert d["size"] == len(art.body)
    assert d.get("artifactType") == SBOM, f"descriptor MUST carry the manifest's artifactType; got {d}"
    assert d.get("annotations") == ann, f"descriptor MUST carry the manifest's annotations; got {d.get('annotations')}"


def test_referrers_artifact_type_falls_back_to_config_media_type(client, image):
    cfg_type = "application/vnd.example.config.v1+json"
    art = client.push_artifact(image.repo, None, subject=image.desc, config_media_type=cfg_type)
    ms = manifests_of(referrers(client, image.repo, image.digest))
    d = [m for m in ms if m["digest"] == art.digest]
    assert d, f"referrer {art.digest} missing from {ms}"
    assert d[0].get("artifactType") == cfg_type, (
        f"without artifactType the descriptor's artifactType MUST be the config mediaType; got {d[0]}")


def test_referrers_lists_index_with_subject(client, image):
    child = client.push_image(image.repo)
    idx = image_index([child.desc], subject=image.desc, artifact_type=SIG,
                      annotations={"k": "v"})
    r = client.put_manifest(image.repo, digest_of(idx), idx, MT_OCI_INDEX)
    assert r.status_code == 201, describe(r)
    assert r.headers.get("OCI-Subject") == image.digest
    ms = manifests_of(referrers(client, image.repo, image.digest))
    d = [m for m in ms if m["digest"] == digest_of(idx)]
    assert d, f"an index with subject must be listed; got {ms}"
    assert d[0]["mediaType"] == MT_OCI_INDEX and d[0].get("artifactType") == SIG
    assert d[0].get("annotations") == {"k": "v"}


def test_referrers_index_without_artifact_type_omits_it(client, image):
    child = client.push_image(image.repo)
    idx = image_index([child.desc], subject=image.desc)
    client.push_manifest(image.repo, digest_of(idx), idx, MT_OCI_INDEX)
    ms = manifests_of(referrers(client, image.repo, image.digest))
    d = [m for m in ms if m["digest"] == digest_of(idx)]
    assert d, f"an index with subject must be listed; got {ms}"
    assert "artifactType" not in d[0], (
        f"an index without artifactType: the descriptor's artifactType MUST be omitted; got {d}")


def test_referrers_lists_several_and_only_matching_subject(client, image):
    other = client.push_image(image.repo)
    a = client.push_artifact(image.repo, SBOM, subject=image.desc)
    b = client.push_artifact(image.repo, SIG, subject=image.desc)
    c = client.push_artifact(image.repo, SIG, subject=other.desc)
    got = {m["digest"] for m in manifests_of(referrers(client, image.repo, image.digest))}
    assert got == {a.digest, b.digest}, f"referrers of {image.digest} must be exactly its two artifacts; got {got}"
    got_other = {m["digest"] for m in manifests_of(referrers(client, image.repo, other.digest))}
    assert got_other == {c.digest}


def test_referrers_artifact_type_filter(client, image):
    a = client.push_artifact(image.repo, SBOM, subject=image.desc)
    client.push_artifact(image.repo, SIG, subject=image.desc)
    r = referrers(client, image.repo, image.digest, artifactType=SBOM)
    ms = manifests_of(r)
    assert r.headers.get("OCI-Filters-Applied") == "artifactType", (
        f"filtering applied: response MUST carry OCI-Filters-Applied: artifactType; got {r.headers.get('OCI-Filters-Applied')!r}")
    assert [m["digest"] for m in ms] == [a.digest], f"?artifactType={SBOM} must list only the SBOM; got {ms}"


def test_referrers_filter_without_match_is_empty(client, image):
    client.push_artifact(image.repo, SBOM, subject=image.desc)
    r = referrers(client, image.repo, image.digest, artifactType="application/vnd.none")
    assert manifests_of(r) == []
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"


def test_referrers_unfiltered_has_no_filters_applied_header(client, image):
    client.push_artifact(image.repo, SBOM, subject=image.desc)
    r = referrers(client, image.repo, image.digest)
    assert "OCI-Filters-Applied" not in r.headers, "no filter requested: OCI-Filters-Applied must not claim one"


def test_referrers_of_unknown_subject_is_200_empty(client, image):
    r = referrers(client, image.repo, digest_of(random_bytes(16)))
    assert r.status_code == 200, f"referrers of an unknown digest MUST be 200 with an empty list (never 404); {describe(r)}"
    assert media_type_of(r) == MT_OCI_INDEX
    body = r.json()
    assert body.get("schemaVersion") == 2 and body.get("mediaType") == MT_OCI_INDEX
    assert body.get("manifests") == [], f"manifests must be an empty list; got {body.get('manifests')!r}"


def test_referrers_in_unknown_repository(client, new_repo):
    """'If the registry supports the referrers API, the registry MUST NOT return a 404';
    the sentence before it assumes the repository exists, so 404 NAME_UNKNOWN is tolerated."""
    r = referrers(client, new_repo(), digest_of(b"x"))
    if r.status_code == 404:
        assert_error(r, 404, "NAME_UNKNOWN")
    else:
        assert r.status_code == 200 and r.json().get("manifests") == [], describe(r)


def test_referrers_with_invalid_digest_is_400(client, image):
    r = client.get(f"/v2/{image.repo}/referrers/sha256:not-a-digest")
    assert_error(r, 400, "DIGEST_INVALID")


def test_referrer_pushed_before_subject_is_accepted_and_listed(client, repo):
    """A registry MUST accept a manifest whose subject does not exist (yet)."""
    ghost = {"mediaType": MT_OCI_MANIFEST, "digest": digest_of(b"subject pushed later"), "size": 20}
    art = client.push_artifact(repo, SBOM, subject=ghost)
    ms = manifests_of(referrers(client, repo, ghost["digest"]))
    assert [m["digest"] for m in ms] == [art.digest]


def test_referrers_are_scoped_to_repository(client, image, new_repo):
    other = new_repo()
    # same subject content pushed into another repository
    for blob in [image.config] + image.layers:
        client.push_blob(other, blob)
    client.push_manifest(other, "latest", image.body)
    client.push_artifact(image.repo, SBOM, subject=image.desc)
    assert manifests_of(referrers(client, other, image.digest)) == [], (
        "a referrer in one repository must not be listed in another")


def test_deleted_referrer_disappears_from_list(client, image):
    art = client.push_artifact(image.repo, SBOM, subject=image.desc)
    d = client.delete(f"/v2/{image.repo}/manifests/{art.digest}")
    assert d.status_code == 202, describe(d)
    assert manifests_of(referrers(client, image.repo, image.digest)) == []


def test_tagged_referrer_is_listed_once(client, image):
    art = client.push_artifact(image.repo, SBOM, subject=image.desc, tag="sbom")
    client.push_manifest(image.repo, "sbom2", art.body)
    ms = manifests_of(referrers(client, image.repo, image.digest))
    assert [m["digest"] for m in ms] == [art.digest], f"a referrer must be listed once; got {ms}"


def test_referrers_with_sha512_digest_is_200(client, image):
    """Referrers work with a sha512 subject digest as well (digest algorithm agnostic)."""
    dig = digest_of(image.body, "sha512")
    r = referrers(client, image.repo, dig)
    assert r.status_code == 200 and r.json().get("manifests") == [], describe(r)
