"""Push category, chunked uploads: end-5 (PATCH), end-6 (closing PUT), end-13 (GET status)."""
import hashlib

import pytest

from .oci import assert_error, describe, digest_of, random_bytes, with_query

OCTET = "application/octet-stream"


def patch(client, loc, chunk, start, content_range=None):
    headers = {"Content-Type": OCTET}
    if content_range is not False:
        headers["Content-Range"] = content_range or f"{start}-{start + len(chunk) - 1}"
    return client.patch(loc, data=chunk, headers=headers)


def assert_range_error(r):
    """416 per spec; body, if JSON, must use a spec code (ocireg: RANGE_INVALID)."""
    assert r.status_code == 416, f"expected 416 Requested Range Not Satisfiable; {describe(r)}"
    if r.content and r.headers.get("Content-Type", "").startswith("application/json"):
        assert_error(r, 416, "RANGE_INVALID", "BLOB_UPLOAD_INVALID", "SIZE_INVALID")


def test_patch_chunk_is_202_with_location_and_range(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"x" * 10, 0)
    assert r.status_code == 202, f"PATCH chunk must be 202 Accepted; {describe(r)}"
    assert r.headers.get("Location"), "PATCH response must carry Location"
    assert r.headers.get("Range") == "0-9", f"PATCH response must carry Range: 0-9; got {r.headers.get('Range')!r}"


def test_patch_range_grows_with_each_chunk(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"a" * 10, 0)
    loc = client.abs(r.headers["Location"])
    r = patch(client, loc, b"b" * 15, 10)
    assert r.status_code == 202, describe(r)
    assert r.headers.get("Range") == "0-24", f"expected Range: 0-24 after 25 bytes; got {r.headers.get('Range')!r}"


def test_chunked_upload_then_put_without_body_is_201(client, repo):
    data = random_bytes(1000)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    for off in range(0, 1000, 300):
        r = patch(client, loc, data[off:off + 300], off)
        assert r.status_code == 202, describe(r)
        loc = client.abs(r.headers["Location"])
    r = client.put(with_query(loc, [("digest", dig)]))
    assert r.status_code == 201, f"closing PUT without body after PATCHes must be 201; {describe(r)}"
    assert r.headers.get("Location")
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data, "chunked blob must be reassembled bit-exact"


def test_chunked_upload_final_chunk_in_put(client, repo):
    data = random_bytes(500)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    r = patch(client, loc, data[:300], 0)
    loc = client.abs(r.headers["Location"])
    r = client.put(with_query(loc, [("digest", dig)]), data=data[300:],
                   headers={"Content-Type": OCTET, "Content-Range": "300-499"})
    assert r.status_code == 201, f"final chunk in the closing PUT must be accepted; {describe(r)}"
    assert client.get(f"/v2/{repo}/blobs/{dig}").content == data


def test_chunked_upload_final_chunk_in_put_without_content_range(client, repo):
    data = random_bytes(500)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    r = patch(client, loc, data[:300], 0)
    loc = client.abs(r.headers["Location"])
    r = client.put(with_query(loc, [("digest", dig)]), data=data[300:], headers={"Content-Type": OCTET})
    assert r.status_code == 201, describe(r)
    assert client.get(f"/v2/{repo}/blobs/{dig}").content == data


def test_patch_without_content_range_streams(client, repo):
    """Streamed PATCH (no Content-Range), as docker/containerd clients send it."""
    data = random_bytes(700)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    r = patch(client, loc, data[:400], 0, content_range=False)
    assert r.status_code == 202, describe(r)
    assert r.headers.get("Range") == "0-399", r.headers.get("Range")
    loc = client.abs(r.headers["Location"])
    r = patch(client, loc, data[400:], 400, content_range=False)
    assert r.status_code == 202 and r.headers.get("Range") == "0-699", describe(r)
    loc = client.abs(r.headers["Location"])
    assert client.put(with_query(loc, [("digest", dig)])).status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{dig}").content == data


def test_patch_out_of_order_is_416(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"a" * 10, 0)
    loc = client.abs(r.headers["Location"])
    r = patch(client, loc, b"b" * 10, 20)   # gap: expected start 10
    assert_range_error(r)


def test_patch_first_chunk_not_at_zero_is_416(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"a" * 10, 5)
    assert_range_error(r)


def test_patch_overlapping_chunk_is_416(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"a" * 10, 0)
    loc = client.abs(r.headers["Location"])
    r = patch(client, loc, b"b" * 10, 5)
    assert_range_error(r)


def test_upload_status_after_416_reports_valid_offset(client, repo):
    data = random_bytes(30)
    loc = client.new_upload(repo)
    r = patch(client, loc, data[:10], 0)
    loc = client.abs(r.headers["Location"])
    assert patch(client, loc, data[20:], 20).status_code == 416
    s = client.get(loc)
    assert s.status_code == 204, describe(s)
    assert s.headers.get("Range") == "0-9", f"after a rejected chunk the offset must be unchanged (0-9); got {s.headers.get('Range')!r}"
    # ... and the upload can resume from there
    loc = client.abs(s.headers.get("Location") or loc)
    r = patch(client, loc, data[10:], 10)
    assert r.status_code == 202, describe(r)
    loc = client.abs(r.headers["Location"])
    assert client.put(with_query(loc, [("digest", digest_of(data))])).status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


def test_put_final_chunk_out_of_order_is_416(client, repo):
    data = random_bytes(30)
    loc = client.new_upload(repo)
    r = patch(client, loc, data[:10], 0)
    loc = client.abs(r.headers["Location"])
    r = client.put(with_query(loc, [("digest", digest_of(data))]), data=data[20:],
                   headers={"Content-Type": OCTET, "Content-Range": "20-29"})
    assert_range_error(r)
    assert not client.blob_exists(repo, digest_of(data))


def test_get_upload_status_is_204_with_range_and_location(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"z" * 42, 0)
    loc = client.abs(r.headers["Location"])
    s = client.get(loc)
    assert s.status_code == 204, f"GET <blob-push-location> must be 204 No Content; {describe(s)}"
    assert s.headers.get("Range") == "0-41", f"upload status must carry Range: 0-41; got {s.headers.get('Range')!r}"
    assert s.headers.get("Location"), "upload status must carry Location"
    assert s.content == b""


def test_get_upload_status_of_fresh_session_is_204(client, repo):
    loc = client.new_upload(repo)
    s = client.get(loc)
    assert s.status_code == 204, describe(s)
    assert s.headers.get("Location"), "upload status must carry Location"


def test_patch_with_content_range_longer_than_body_is_rejected(client, repo):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"a" * 10, 0, content_range="0-99")
    assert r.status_code in (400, 416), f"Content-Range length != body length must be 416 (or 400); {describe(r)}"
    s = client.get(loc)
    if s.status_code == 204:
        assert s.headers.get("Range") != "0-9", "a rejected chunk must not be stored"


@pytest.mark.parametrize("bad", ["bytes 0-9/10", "abc", "9-0", "-5", "0-", "0-9-10"])
def test_patch_with_malformed_content_range_is_rejected(client, repo, bad):
    loc = client.new_upload(repo)
    r = patch(client, loc, b"a" * 10, 0, content_range=bad)
    assert r.status_code in (400, 416), f"Content-Range {bad!r} does not match ^[0-9]+-[0-9]+$: expected 416 (or 400); {describe(r)}"


def test_patch_unknown_upload_is_404(client, repo):
    client.push_blob(repo, b"make the repo exist")
    r = client.patch(f"/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000",
                     data=b"abc", headers={"Content-Range": "0-2"})
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_get_unknown_upload_is_404(client, repo):
    client.push_blob(repo, b"make the repo exist")
    r = client.get(f"/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000")
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_put_unknown_upload_is_404(client, repo):
    r = client.put(f"/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000",
                   params={"digest": digest_of(b"abc")}, data=b"abc")
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_delete_unknown_upload_is_404(client, repo):
    r = client.delete(f"/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000")
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_session_is_bound_to_its_repository(client, new_repo):
    """An upload id started in repo A must not be usable through repo B's URL."""
    a, b = new_repo(), new_repo()
    loc = client.new_upload(a)
    path = loc.split("://", 1)[-1].split("/", 1)[1]
    prefix = f"v2/{a}/blobs/uploads/"
    if not path.startswith(prefix):
        pytest.skip(f"Location {loc!r} is not of the form /v2/<name>/blobs/uploads/<id>")
    other = client.abs("/" + path.replace(f"v2/{a}/", f"v2/{b}/", 1))
    data = b"cross-repo upload"
    r = client.put(with_query(other, [("digest", digest_of(data))]), data=data)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    assert not client.blob_exists(b, digest_of(data))


def test_chunked_digest_mismatch_is_400_digest_invalid(client, repo):
    data = random_bytes(100)
    loc = client.new_upload(repo)
    r = patch(client, loc, data, 0)
    loc = client.abs(r.headers["Location"])
    r = client.put(with_query(loc, [("digest", digest_of(b"different"))]))
    assert_error(r, 400, "DIGEST_INVALID")
    assert not client.blob_exists(repo, digest_of(data))


def test_chunked_8_mib_upload_is_bit_exact(client, repo):
    size = 8 * 1024 * 1024 + 123
    data = random_bytes(size)
    dig = client.push_blob_chunked(repo, data, chunk_size=1024 * 1024)
    h = client.head(f"/v2/{repo}/blobs/{dig}")
    assert h.status_code == 200 and h.headers.get("Content-Length") == str(size), describe(h)
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert g.status_code == 200
    assert len(g.content) == size and hashlib.sha256(g.content).hexdigest() == dig.split(":")[1], (
        "8 MiB chunked blob must come back bit-exact")
    r = client.get(f"/v2/{repo}/blobs/{dig}", headers={"Range": "bytes=5000000-5000099"})
    assert r.status_code == 206 and r.content == data[5000000:5000100], describe(r)
    assert r.headers.get("Content-Range") == f"bytes 5000000-5000099/{size}"


def test_chunked_sha512_upload(client, repo):
    data = random_bytes(3000)
    dig = client.push_blob_chunked(repo, data, chunk_size=1000, algo="sha512")
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data
