"""Push category, monolithic blob uploads: end-4a (POST), end-4b (single POST ?digest=),
end-4c (?digest-algorithm=), end-6 (PUT <location>?digest=), end-14 (DELETE upload)."""
import re
import urllib.parse

import pytest

from .oci import (assert_error, describe, digest_of, random_bytes, with_query)


def test_post_upload_is_202_with_location(client, repo):
    r = client.start_upload(repo)
    assert r.status_code == 202, f"POST /v2/<name>/blobs/uploads/ must be 202 Accepted; {describe(r)}"
    assert r.headers.get("Location"), "POST upload must carry a Location header"


def test_post_upload_location_contains_unique_session_id(client, repo):
    a = client.start_upload(repo)
    b = client.start_upload(repo)
    assert a.status_code == 202 and b.status_code == 202
    la, lb = a.headers["Location"], b.headers["Location"]
    assert la != lb, f"two upload sessions must get different locations (unique session id); both {la!r}"
    # The location must contain an identifier; if the Docker-Upload-UUID header is sent
    # it must be the id that appears in the location.
    uuid = a.headers.get("Docker-Upload-UUID")
    if uuid:
        assert uuid in la, f"Docker-Upload-UUID {uuid!r} should be the id in Location {la!r}"
    assert re.search(r"[0-9A-Za-z_-]{8,}", urllib.parse.urlsplit(la).path), (
        f"Location {la!r} should contain a session id")


def test_post_upload_location_is_usable_relative_or_absolute(client, repo):
    r = client.start_upload(repo)
    loc = client.abs(r.headers["Location"])
    assert urllib.parse.urlsplit(loc).scheme in ("http", "https")
    r = client.get(loc)
    assert r.status_code == 204, f"GET <blob-push-location> of a fresh session must be 204; {describe(r)}"


def test_post_then_put_is_201_with_location(client, repo):
    data = random_bytes(200)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    r = client.put(with_query(loc, [("digest", dig)]), data=data,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, f"closing PUT with the whole blob must be 201 Created; {describe(r)}"
    assert r.headers.get("Location"), "201 must carry Location: <blob-location>"
    if "Docker-Content-Digest" in r.headers:
        assert r.headers["Docker-Content-Digest"] == dig


def test_post_then_put_location_is_pullable(client, repo):
    data = random_bytes(200)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    r = client.put(with_query(loc, [("digest", dig)]), data=data)
    assert r.status_code == 201, describe(r)
    g = client.get(r.headers["Location"])
    assert g.status_code == 200 and g.content == data, f"<blob-location> must be a pullable blob URL; {describe(g)}"


def test_post_then_put_blob_is_pullable_by_digest(client, repo):
    data = random_bytes(333)
    dig = client.push_blob(repo, data)
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200 and r.content == data


def test_put_accepts_unescaped_colon_in_digest_query(client, repo):
    data = random_bytes(40)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    sep = "&" if "?" in loc else "?"
    r = client.put(loc + sep + "digest=" + dig, data=data)
    assert r.status_code == 201, f"?digest=sha256:<hex> with a literal ':' must be accepted; {describe(r)}"


def test_single_post_with_digest_is_201(client, repo):
    data = random_bytes(120)
    dig = digest_of(data)
    r = client.start_upload(repo, params={"digest": dig}, data=data,
                            headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, f"single POST ?digest= is supported by ocireg: expected 201; {describe(r)}"
    assert r.headers.get("Location"), "201 must carry Location"
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data


def test_single_post_with_wrong_digest_is_400_digest_invalid(client, repo):
    data = random_bytes(120)
    wrong = digest_of(b"something else")
    r = client.start_upload(repo, params={"digest": wrong}, data=data)
    assert_error(r, 400, "DIGEST_INVALID")
    assert not client.blob_exists(repo, wrong), "a rejected blob must not be stored"
    assert not client.blob_exists(repo, digest_of(data))


def test_put_digest_mismatch_is_400_digest_invalid(client, repo):
    data = random_bytes(120)
    wrong = digest_of(b"not the data")
    loc = client.new_upload(repo)
    r = client.put(with_query(loc, [("digest", wrong)]), data=data)
    assert_error(r, 400, "DIGEST_INVALID")
    assert not client.blob_exists(repo, wrong), "the mismatched digest must not become a blob"
    assert not client.blob_exists(repo, digest_of(data)), "the uploaded bytes must not be stored under their own digest either"


def test_put_without_digest_is_400(client, repo):
    loc = client.new_upload(repo)
    r = client.put(loc, data=b"abc")
    assert_error(r, 400, "DIGEST_INVALID", "BLOB_UPLOAD_INVALID")


def test_put_after_completion_is_404_upload_unknown(client, repo):
    data = random_bytes(10)
    dig = digest_of(data)
    loc = client.new_upload(repo)
    assert client.put(with_query(loc, [("digest", dig)]), data=data).status_code == 201
    r = client.put(with_query(loc, [("digest", dig)]), data=data)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_get_upload_after_completion_is_404(client, repo):
    data = random_bytes(10)
    loc = client.new_upload(repo)
    assert client.put(with_query(loc, [("digest", digest_of(data))]), data=data).status_code == 201
    r = client.get(loc)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_push_same_blob_twice_is_idempotent(client, repo):
    data = random_bytes(64)
    d1 = client.push_blob(repo, data)
    d2 = client.push_blob(repo, data)
    assert d1 == d2
    r = client.get(f"/v2/{repo}/blobs/{d1}")
    assert r.status_code == 200 and r.content == data


def test_push_zero_length_blob(client, repo):
    dig = client.push_blob(repo, b"")
    r = client.head(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200 and r.headers.get("Content-Length") == "0"


def test_push_blob_into_multi_segment_repository(client, new_repo):
    repo = new_repo("team/app/web")
    data = random_bytes(64)
    dig = client.push_blob(repo, data)
    assert client.get(f"/v2/{repo}/blobs/{dig}").content == data


# --- sha512 ---------------------------------------------------------------------------

def test_post_then_put_with_sha512_digest(client, repo):
    data = random_bytes(256)
    dig = digest_of(data, "sha512")
    loc = client.new_upload(repo)
    r = client.put(with_query(loc, [("digest", dig)]), data=data)
    assert r.status_code == 201, f"sha512 digests must be accepted on PUT; {describe(r)}"
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data, describe(g)
    assert g.headers.get("Docker-Content-Digest") == dig, (
        f"Docker-Content-Digest must be the sha512 digest requested; got {g.headers.get('Docker-Content-Digest')!r}")


def test_post_with_digest_algorithm_sha512(client, repo):
    data = random_bytes(256)
    dig = digest_of(data, "sha512")
    loc = client.new_upload(repo, params={"digest-algorithm": "sha512"})
    r = client.put(with_query(loc, [("digest", dig)]), data=data)
    assert r.status_code == 201, f"end-4c ?digest-algorithm=sha512 then PUT: expected 201; {describe(r)}"
    assert client.head(f"/v2/{repo}/blobs/{dig}").status_code == 200


def test_single_post_with_sha512_digest(client, repo):
    data = random_bytes(256)
    dig = digest_of(data, "sha512")
    r = client.start_upload(repo, params={"digest": dig}, data=data)
    assert r.status_code in (201, 202), describe(r)
    if r.status_code == 202:
        r = client.put(with_query(client.abs(r.headers["Location"]), [("digest", dig)]), data=data)
        assert r.status_code == 201, describe(r)
    assert client.get(f"/v2/{repo}/blobs/{dig}").content == data


def test_sha512_mismatch_is_400_digest_invalid(client, repo):
    data = random_bytes(64)
    wrong = digest_of(b"other", "sha512")
    loc = client.new_upload(repo)
    r = client.put(with_query(loc, [("digest", wrong)]), data=data)
    assert_error(r, 400, "DIGEST_INVALID")


def test_blob_head_by_sha512_has_length(client, repo):
    data = random_bytes(77)
    dig = client.push_blob(repo, data, algo="sha512")
    r = client.head(f"/v2/{repo}/blobs/{dig}")
    assert r.status_code == 200 and r.headers.get("Content-Length") == "77"


def test_unsupported_digest_algorithm_param_is_400(client, repo):
    r = client.start_upload(repo, params={"digest-algorithm": "md5"})
    assert r.status_code in (400, 202), describe(r)
    if r.status_code == 400:
        assert_error(r, 400, "DIGEST_INVALID", "UNSUPPORTED")


# --- cancel (end-14) ----------------------------------------------------------------------

def test_delete_upload_is_204(client, repo):
    loc = client.new_upload(repo)
    r = client.delete(loc)
    assert r.status_code == 204, f"DELETE <blob-push-location> should be 204 No Content; {describe(r)}"


def test_deleted_upload_is_404_blob_upload_unknown(client, repo):
    loc = client.new_upload(repo)
    p = client.patch(loc, data=b"0123456789", headers={"Content-Range": "0-9"})
    assert p.status_code == 202, describe(p)
    loc = client.abs(p.headers["Location"])
    assert client.delete(loc).status_code == 204
    r = client.get(loc)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_put_to_deleted_upload_is_404(client, repo):
    data = b"0123456789"
    loc = client.new_upload(repo)
    assert client.delete(loc).status_code == 204
    r = client.put(with_query(loc, [("digest", digest_of(data))]), data=data)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    assert not client.blob_exists(repo, digest_of(data))


def test_delete_upload_twice_is_404(client, repo):
    loc = client.new_upload(repo)
    assert client.delete(loc).status_code == 204
    r = client.delete(loc)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


def test_concurrent_uploads_of_same_blob_all_succeed(client, repo, registry):
    """Layer upload de-duplication use case: identical uploads racing each other both
    proceed; the stored blob is intact."""
    from concurrent.futures import ThreadPoolExecutor
    from .oci import client_for
    data = random_bytes(256 * 1024)
    dig = digest_of(data)

    def push(_):
        with client_for(registry) as c:
            loc = c.new_upload(repo)
            r = c.patch(loc, data=data[:100000], headers={"Content-Range": f"0-{100000 - 1}"})
            assert r.status_code == 202, describe(r)
            r = c.put(with_query(c.abs(r.headers["Location"]), [("digest", dig)]), data=data[100000:])
            return r.status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(push, range(6)))
    assert codes == [201] * 6, f"every concurrent upload of the same blob must be 201; got {codes}"
    g = client.get(f"/v2/{repo}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data


@pytest.mark.parametrize("component", ["a__b", "a-----b", "a.b", "a_b", "a-b", "0", "a.b.c-d_e__f"])
def test_name_grammar_separators_are_accepted(client, component):
    """[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)* allows '.', '_', '__' and runs of '-'."""
    from .oci import unique_repo
    repo = unique_repo(suffix=component)
    r = client.start_upload(repo)
    assert r.status_code == 202, f"{repo!r} matches the <name> grammar and must be accepted; {describe(r)}"
    client.delete(client.abs(r.headers["Location"]))
