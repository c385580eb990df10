"""Pull category: end-2 (blob GET/HEAD, Range) and end-3 (manifest GET/HEAD)."""
import hashlib

import pytest

from .oci import (MT_OCI_MANIFEST, assert_error, describe, digest_of, media_type_of,
                  random_bytes)


@pytest.fixture
def blob(client, repo):
    data = random_bytes(100)
    dig = client.push_blob(repo, data)
    return repo, data, dig


# --- blobs ---------------------------------------------------------------------------

def test_blob_get_is_200_and_bit_exact(client, blob):
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200, f"GET existing blob must be 200; {describe(r)}"
    assert r.content == data, "blob body must be returned bit-exact"


def test_blob_get_has_docker_content_digest(client, blob):
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert r.headers.get("Docker-Content-Digest") == dig, (
        f"GET blob must carry Docker-Content-Digest: {dig}; got {r.headers.get('Docker-Content-Digest')!r}")
    assert digest_of(r.content) == r.headers["Docker-Content-Digest"], "Docker-Content-Digest must match the body"


def test_blob_get_has_content_length(client, blob):
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert r.headers.get("Content-Length") == str(len(data)), (
        f"expected Content-Length {len(data)}; got {r.headers.get('Content-Length')!r}")


def test_blob_head_is_200_with_length_and_digest_and_no_body(client, blob):
    repo, data, dig = blob
    r = client.head(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200, f"HEAD existing blob must be 200; {describe(r)}"
    assert r.headers.get("Content-Length") == str(len(data)), (
        f"HEAD blob must carry Content-Length {len(data)}; got {r.headers.get('Content-Length')!r}")
    assert r.headers.get("Docker-Content-Digest") == dig, "HEAD blob must carry Docker-Content-Digest"
    assert r.content == b"", "HEAD must not return a body"


def test_blob_get_unknown_is_404_blob_unknown(client, blob):
    repo, _, _ = blob
    missing = digest_of(b"never pushed " + random_bytes(8))
    r = client.get(f"/v2/{repo}/blobs/{missing}")
    assert_error(r, 404, "BLOB_UNKNOWN")


def test_blob_head_unknown_is_404(client, blob):
    repo, _, _ = blob
    r = client.head(f"/v2/{repo}/blobs/{digest_of(random_bytes(8))}")
    assert r.status_code == 404, f"HEAD of unknown blob must be 404; got {r.status_code}"
    assert r.content == b""


def test_blob_get_in_unknown_repository_is_404(client, new_repo):
    r = client.get(f"/v2/{new_repo()}/blobs/{digest_of(b'x')}")
    assert_error(r, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


def test_blob_get_empty_blob(client, repo):
    dig = client.push_blob(repo, b"")
    assert dig == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200 and r.content == b"", f"zero-length blob must be pullable; {describe(r)}"
    assert r.headers.get("Content-Length") == "0"


def test_blob_get_in_multi_segment_repository(client, new_repo):
    repo = new_repo("team/app/web")
    data = random_bytes(50)
    dig = client.push_blob(repo, data)
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200 and r.content == data, describe(r)


# --- Range (RFC 9110 section 14) -----------------------------------------------------

@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, 99),
    ("bytes=-5", 95, 99),
    ("bytes=50-50", 50, 50),
    ("bytes=90-1000", 90, 99),
    ("bytes=-1000", 0, 99),
    ("bytes=0-", 0, 99),
    ("bytes=99-99", 99, 99),
])
def test_blob_range_get_is_206_with_content_range(client, blob, spec, start, end):
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": spec})
    assert r.status_code == 206, f"Range {spec}: expected 206 Partial Content; {describe(r)}"
    assert r.headers.get("Content-Range") == f"bytes {start}-{end}/{len(data)}", (
        f"Range {spec}: expected Content-Range 'bytes {start}-{end}/{len(data)}'; got {r.headers.get('Content-Range')!r}")
    assert r.content == data[start:end + 1], f"Range {spec}: body must be bytes {start}..{end}"
    assert r.headers.get("Content-Length") == str(end - start + 1)


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=100-200", "bytes=1000-2000", "bytes=-0"])
def test_blob_range_out_of_bounds_is_416(client, blob, spec):
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": spec})
    assert r.status_code == 416, f"unsatisfiable Range {spec} on a {len(data)}-byte blob: expected 416; {describe(r)}"
    cr = r.headers.get("Content-Range")
    assert cr in (None, f"bytes */{len(data)}"), f"416 should carry Content-Range: bytes */{len(data)}; got {cr!r}"


@pytest.mark.parametrize("spec", ["bytes=abc", "bytes=5-2", "bytes=", "bytes=--1", "bytes 0-9"])
def test_blob_malformed_range_is_ignored_or_rejected(client, blob, spec):
    """RFC 9110 14.2: a server MAY ignore or reject an invalid ranges-specifier.
    Either the full body with 200, or 416/400 — never a 5xx or a wrong slice."""
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": spec})
    assert r.status_code in (200, 400, 416), f"malformed Range {spec!r}: expected 200 (ignored) or 416/400; {describe(r)}"
    if r.status_code == 200:
        assert r.content == data, "an ignored Range must yield the whole blob"


def test_blob_range_with_unknown_unit_is_ignored(client, blob):
    """RFC 9110 14.2: an origin server MUST ignore a Range with a unit it does not understand."""
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": "items=0-9"})
    assert r.status_code == 200, f"Range with an unknown unit must be ignored (200); {describe(r)}"
    assert r.content == data


def test_blob_multi_range_is_valid_or_full(client, blob):
    repo, data, dig = blob
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code in (200, 206, 416), describe(r)
    if r.status_code == 200:
        assert r.content == data
    if r.status_code == 206 and "multipart/byteranges" not in r.headers.get("Content-Type", ""):
        # a server may coalesce; the slice must still be right
        cr = r.headers.get("Content-Range", "")
        assert cr.startswith("bytes 0-"), cr


# --- manifests -----------------------------------------------------------------------

def test_manifest_get_by_tag_is_200_and_byte_exact(client, image):
    r = client.get_manifest(image.repo, "latest")
    assert r.status_code == 200, f"GET manifest by tag must be 200; {describe(r)}"
    assert r.content == image.body, "manifest must be returned in the exact bytes pushed"


def test_manifest_get_by_digest_is_200_and_byte_exact(client, image):
    r = client.get_manifest(image.repo, image.digest)
    assert r.status_code == 200, describe(r)
    assert r.content == image.body
    assert "sha256:" + hashlib.sha256(r.content).hexdigest() == image.digest


def test_manifest_get_docker_content_digest_matches_body(client, image):
    r = client.get_manifest(image.repo, "latest")
    dcd = r.headers.get("Docker-Content-Digest")
    assert dcd == image.digest, f"GET manifest must carry Docker-Content-Digest {image.digest}; got {dcd!r}"
    assert digest_of(r.content) == dcd, "Docker-Content-Digest must be the sha256 of the returned body"


def test_manifest_get_content_type_is_pushed_media_type(client, image):
    r = client.get_manifest(image.repo, "latest")
    assert media_type_of(r) == MT_OCI_MANIFEST, f"Content-Type must be the pushed media type; got {r.headers.get('Content-Type')!r}"


def test_manifest_head_by_tag(client, image):
    r = client.head_manifest(image.repo, "latest")
    assert r.status_code == 200, describe(r)
    assert r.headers.get("Docker-Content-Digest") == image.digest, "HEAD manifest must carry Docker-Content-Digest"
    assert r.headers.get("Content-Length") == str(len(image.body)), (
        f"HEAD manifest must carry Content-Length {len(image.body)}; got {r.headers.get('Content-Length')!r}")
    assert media_type_of(r) == MT_OCI_MANIFEST
    assert r.content == b""


def test_manifest_head_by_digest(client, image):
    r = client.head_manifest(image.repo, image.digest)
    assert r.status_code == 200, describe(r)
    assert r.headers.get("Docker-Content-Digest") == image.digest
    assert r.headers.get("Content-Length") == str(len(image.body))


def test_manifest_get_unknown_tag_is_404_manifest_unknown(client, image):
    r = client.get_manifest(image.repo, "no-such-tag")
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_manifest_get_unknown_digest_is_404_manifest_unknown(client, image):
    r = client.get_manifest(image.repo, digest_of(random_bytes(16)))
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_manifest_head_unknown_is_404(client, image):
    r = client.head_manifest(image.repo, "no-such-tag")
    assert r.status_code == 404 and r.content == b"", describe(r)


def test_manifest_get_in_unknown_repository_is_404(client, new_repo):
    r = client.get_manifest(new_repo(), "latest")
    assert_error(r, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_manifest_not_visible_in_other_repository(client, image, new_repo):
    other = new_repo()
    client.push_image(other, tag="latest")
    r = client.get_manifest(other, image.digest)
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_manifest_layers_are_pullable(client, image):
    for layer in image.layers:
        r = client.get(f"/v2/{image.repo}/blobs/{digest_of(layer)}")
        assert r.status_code == 200 and r.content == layer
    r = client.get(f"/v2/{image.repo}/blobs/{digest_of(image.config)}")
    assert r.status_code == 200 and r.content == image.config


def test_blob_range_on_empty_blob_is_416(client, repo):
    dig = client.push_blob(repo, b"")
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": "bytes=0-"})
    assert r.status_code in (416, 200), f"no byte of an empty blob can satisfy bytes=0-: expected 416 (or 200 ignoring Range); {describe(r)}"
    assert r.content == b"" or r.status_code == 416
