"""Negative and hostile input. Every rejection must use the spec's JSON error body
{"errors":[{"code":...,"message":...}]}, change nothing in the store (`unchanged_store`
compares the data directory before/after) and leave the server serving.

Where the router cannot even parse a path (e.g. an empty name segment) a 404 is
accepted instead of 400 NAME_INVALID: the spec only says <name> MUST match its regex,
and a path that is not a <name> at all is simply not an endpoint."""
import os
import time

import pytest

from .oci import (MT_OCI_CONFIG, client_for, MT_OCI_MANIFEST, assert_error, descriptor, describe,
                  digest_of, image_manifest, parse_statuses, random_bytes, random_config,
                  send_raw_bytes)

ZERO = "0" * 64


def raw_json_error(client, method, path, statuses, codes, body=None, headers=None):
    r = client.raw(method, path, headers=headers, body=body)
    assert_error(r, statuses, *codes)
    return r


# --- repository names --------------------------------------------------------------------

INVALID_NAME_PATHS = [
    # (raw path prefix for <name>, description)
    ("conformance/../escape", "dot-dot segment"),
    ("conformance/%2e%2e/escape", "percent-encoded dot-dot"),
    ("conformance/%2E%2E/%2E%2E/escape", "upper-case percent-encoded dot-dot"),
    ("conformance/..%2f..%2fescape", "encoded slash traversal"),
    ("conformance/./escape", "dot segment"),
    ("Conformance/Upper", "upper case"),
    ("conformance/-leading-dash", "component starting with a separator"),
    ("conformance/trailing-", "component ending with a separator"),
    ("conformance/a..b", "double dot inside a component"),
    ("conformance/a%00b", "NUL byte"),
    ("conformance/a b", "space"),
    ("conformance/caf%C3%A9", "non-ASCII"),
    ("conformance/a___b", "triple underscore"),
    ("conformance/a._b", "dot then underscore"),
    ("conformance/a.-b", "dot then dash"),
    ("conformance/a-_b", "dash then underscore"),
    ("conformance/_a", "leading underscore"),
    ("conformance/a/", "trailing slash component"),
]


@pytest.mark.parametrize("name,what", INVALID_NAME_PATHS, ids=[w for _, w in INVALID_NAME_PATHS])
def test_invalid_name_on_upload_post_is_rejected(client, unchanged_store, name, what):
    path = f"/v2/{name.replace(' ', '%20')}/blobs/uploads/"
    r = client.raw("POST", path, body=b"")
    assert r.status in (400, 404), f"{what}: POST {path} must be 400 NAME_INVALID (404 if unroutable); got {r.status} {r.body[:200]!r}"
    if r.status == 400:
        assert_error(r, 400, "NAME_INVALID")
    else:
        assert_error(r, 404)


@pytest.mark.parametrize("name,what", INVALID_NAME_PATHS[:6], ids=[w for _, w in INVALID_NAME_PATHS[:6]])
def test_invalid_name_on_manifest_put_is_rejected(client, unchanged_store, name, what):
    body = b'{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[]}' % (
        MT_OCI_MANIFEST.encode(), MT_OCI_CONFIG.encode(), digest_of(b"{}").encode())
    path = f"/v2/{name.replace(' ', '%20')}/manifests/latest"
    r = client.raw("PUT", path, headers={"Content-Type": MT_OCI_MANIFEST}, body=body)
    assert r.status in (400, 404), f"{what}: PUT {path} must be 400 NAME_INVALID (404 if unroutable); got {r.status}"
    assert_error(r, r.status, *(("NAME_INVALID",) if r.status == 400 else ()))


@pytest.mark.parametrize("name,what", INVALID_NAME_PATHS[:6], ids=[w for _, w in INVALID_NAME_PATHS[:6]])
def test_invalid_name_on_reads_is_rejected(client, unchanged_store, name, what):
    for path in (f"/v2/{name}/tags/list", f"/v2/{name}/manifests/latest",
                 f"/v2/{name}/blobs/sha256:{ZERO}"):
        r = client.raw("GET", path)
        assert r.status in (400, 404), f"{what}: GET {path}: expected 400 NAME_INVALID or 404; got {r.status}"
        assert_error(r, r.status)


def test_uppercase_name_is_400_name_invalid(client, unchanged_store):
    r = client.post("/v2/conformance/UpperCase/blobs/uploads/")
    assert_error(r, 400, "NAME_INVALID")


def test_name_starting_with_slash_is_rejected(client, unchanged_store):
    r = client.raw("POST", "/v2//conformance/x/blobs/uploads/", body=b"")
    assert r.status in (400, 404), f"a name starting with '/' must be 400 NAME_INVALID (or 404); got {r.status}"
    assert_error(r, r.status, *(("NAME_INVALID",) if r.status == 400 else ()))


def test_name_with_empty_segment_is_rejected(client, unchanged_store):
    r = client.raw("POST", "/v2/conformance//x/blobs/uploads/", body=b"")
    assert r.status in (400, 404), f"a name with '//' must be 400 NAME_INVALID (or 404); got {r.status}"
    assert_error(r, r.status, *(("NAME_INVALID",) if r.status == 400 else ()))


def test_name_of_256_characters_is_400_name_invalid(client, unchanged_store):
    """The spec's regex has no length bound, but names over 255 characters break clients
    (implementers note); ocireg rejects them with NAME_INVALID."""
    name = "conformance/" + "a" * (256 - len("conformance/"))
    assert len(name) == 256
    r = client.post(f"/v2/{name}/blobs/uploads/")
    assert_error(r, 400, "NAME_INVALID")


def test_name_of_4096_characters_is_rejected(client, unchanged_store):
    name = "/".join(["abcdefg"] * 512)
    r = client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code in (400, 404, 414, 431), describe(r)
    assert_error(r, r.status_code)


def test_name_of_255_characters_is_accepted(client):
    name = "conformance/" + "b" * 243
    assert len(name) == 255
    data = random_bytes(8)
    dig = client.push_blob(name, data)
    assert client.get(f"/v2/{name}/blobs/{dig}").content == data


def test_traversal_does_not_escape_data_directory(client, unchanged_store):
    """Writes through traversal names must not create anything anywhere."""
    data = b"escape attempt"
    for name in ("conformance/../../../../tmp/escape", "..", "conformance/%2e%2e/%2e%2e/escape"):
        r = client.raw("POST", f"/v2/{name}/blobs/uploads/?digest={digest_of(data)}", body=data,
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status in (400, 404), f"POST through {name!r} must be rejected; got {r.status}"
    cat = client.get("/v2/_catalog")
    if cat.status_code == 200:
        assert not [n for n in cat.json().get("repositories", []) if "escape" in n]


@pytest.fixture
def existing_repo(client, repo):
    """A repository that exists (holds one blob) before the store snapshot is taken."""
    client.push_blob(repo, b"exists")
    return repo


# --- tags ----------------------------------------------------------------------------

@pytest.fixture
def valid_manifest(client, repo):
    cfg = random_config()
    client.push_blob(repo, cfg)
    return repo, image_manifest(descriptor(MT_OCI_CONFIG, cfg), [])


@pytest.mark.parametrize("tag", ["a" * 129, ".hidden", "-dash", "has space", "colon:tag",
                                 "caf%C3%A9", "a%2Fb", "..", "%2e%2e"],
                         ids=["129-chars", "leading-dot", "leading-dash", "space", "colon",
                              "non-ascii", "encoded-slash", "dotdot", "encoded-dotdot"])
def test_bad_tag_on_put_is_rejected(client, valid_manifest, unchanged_store, tag):
    """ocireg answers TAG_INVALID (a legacy Docker code the spec mentions); MANIFEST_INVALID
    is accepted too. Unroutable references may be 404."""
    repo, body = valid_manifest
    path = f"/v2/{repo}/manifests/{tag.replace(' ', '%20')}"
    r = client.raw("PUT", path, headers={"Content-Type": MT_OCI_MANIFEST}, body=body)
    assert r.status in (400, 404), f"PUT with tag {tag!r}: expected 400 TAG_INVALID/MANIFEST_INVALID; got {r.status} {r.body[:200]!r}"
    if r.status == 400:
        assert_error(r, 400, "TAG_INVALID", "MANIFEST_INVALID", "NAME_INVALID", "DIGEST_INVALID")
    assert not client.tag_list(repo), "a rejected tag must not be stored"


def test_tag_of_128_characters_is_accepted(client, valid_manifest):
    repo, body = valid_manifest
    tag = "T" * 128
    assert client.put_manifest(repo, tag, body).status_code == 201
    assert client.tag_list(repo) == [tag]


@pytest.mark.parametrize("tag", ["a" * 129, "-dash", ".dot"])
def test_bad_tag_on_get_is_not_found_or_invalid(client, valid_manifest, tag):
    repo, body = valid_manifest
    client.push_manifest(repo, "ok", body)
    r = client.get_manifest(repo, tag)
    assert r.status_code in (400, 404), describe(r)
    assert_error(r, r.status_code)


def test_nul_byte_in_tag_does_not_truncate(client, valid_manifest):
    repo, body = valid_manifest
    client.push_manifest(repo, "latest", body)
    r = client.raw("GET", f"/v2/{repo}/manifests/latest%00junk", headers={"Accept": MT_OCI_MANIFEST})
    assert r.status in (400, 404), f"'latest\\0junk' is not the tag 'latest': expected 400/404; got {r.status}"
    assert_error(r, r.status)


# --- digests -------------------------------------------------------------------------

BAD_DIGESTS = [
    "sha256:xyz",
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha256:" + "A" * 64,
    "sha512:" + "0" * 64,
    "sha256:",
    ":" + "0" * 64,
    "sha256" + "0" * 64,
    "SHA256:" + "0" * 64,
]
BAD_DIGEST_IDS = ["non-hex", "md5", "short", "long", "upper-hex", "sha512-wrong-length",
                  "empty-hex", "empty-algo", "no-colon", "upper-algo"]


@pytest.mark.parametrize("dig", BAD_DIGESTS, ids=BAD_DIGEST_IDS)
def test_bad_digest_on_upload_put_is_400_digest_invalid(client, repo, dig):
    loc = client.new_upload(repo)
    r = client.put(loc, params={"digest": dig}, data=b"data")
    assert_error(r, 400, "DIGEST_INVALID")
    assert not client.blob_exists(repo, digest_of(b"data")), "nothing may be stored on DIGEST_INVALID"


@pytest.mark.parametrize("dig", BAD_DIGESTS[:6], ids=BAD_DIGEST_IDS[:6])
def test_bad_digest_on_single_post_is_400_digest_invalid(client, existing_repo, unchanged_store, dig):
    repo = existing_repo
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": dig}, data=b"data")
    assert_error(r, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("dig", BAD_DIGESTS[:6], ids=BAD_DIGEST_IDS[:6])
def test_bad_digest_on_blob_get_is_400_digest_invalid(client, existing_repo, dig):
    repo = existing_repo
    r = client.get(f"/v2/{repo}/blobs/{dig}")
    assert_error(r, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("dig", BAD_DIGESTS[:6], ids=BAD_DIGEST_IDS[:6])
def test_bad_digest_on_blob_delete_is_400_digest_invalid(client, existing_repo, unchanged_store, dig):
    repo = existing_repo
    r = client.delete(f"/v2/{repo}/blobs/{dig}")
    assert_error(r, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("ref", [".hidden", "-dash", "a" * 129, "sha256:xyz", "colon:tag",
                                 "sha256:" + "A" * 64],
                         ids=["leading-dot", "leading-dash", "129-chars", "short-digest",
                              "colon", "uppercase-digest"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_manifest_read_with_invalid_reference_is_404_manifest_unknown(client, existing_repo,
                                                                       method, ref):
    """A reference that is neither a tag nor a digest names no manifest: distribution and zot
    answer 404 MANIFEST_UNKNOWN, and the OCI conformance suite expects it."""
    r = client.raw(method, f"/v2/{existing_repo}/manifests/{ref}")
    assert r.status == 404, f"{method} manifest {ref!r}: expected 404; got {r.status} {r.body[:200]!r}"
    if method == "GET":
        assert_error(r, 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("dig", ["sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "A" * 64])
def test_bad_digest_on_manifest_put_is_rejected(client, valid_manifest, unchanged_store, dig):
    """'sha256:xyz' is neither a digest nor a tag (':' is not allowed in tags)."""
    repo, body = valid_manifest
    r = client.put_manifest(repo, dig, body)
    assert_error(r, 400, "DIGEST_INVALID", "TAG_INVALID", "MANIFEST_INVALID")


@pytest.mark.parametrize("dig", ["sha256:../../../../etc/passwd", "sha256:..%2f..%2fetc%2fpasswd",
                                 "..%2f..%2f..%2fetc%2fpasswd"])
def test_traversal_in_digest_is_rejected(client, existing_repo, unchanged_store, dig):
    repo = existing_repo
    r = client.raw("GET", f"/v2/{repo}/blobs/{dig}")
    assert r.status in (400, 404), f"GET blob {dig!r}: expected 400 DIGEST_INVALID or 404; got {r.status}"
    assert b"root:" not in r.body
    assert_error(r, r.status)


def test_mount_with_bad_digest_is_not_mounted(client, new_repo):
    a, b = new_repo(), new_repo()
    r = client.post(f"/v2/{b}/blobs/uploads/", params={"mount": "sha256:xyz", "from": a})
    assert r.status_code in (400, 202), describe(r)
    if r.status_code == 400:
        assert_error(r, 400, "DIGEST_INVALID")
    else:
        client.delete(client.abs(r.headers["Location"]))


# --- upload sessions --------------------------------------------------------------------

UPLOAD_METHODS = (("GET", None), ("PATCH", b"abc"), ("PUT", b"abc"), ("DELETE", None))


def upload_request(client, repo, uid, method, body):
    path = f"/v2/{repo}/blobs/uploads/{uid}"
    if method == "PUT":
        path += f"?digest={digest_of(b'abc')}"
    headers = {"Content-Range": "0-2"} if method == "PATCH" else {}
    return client.raw(method, path, headers=headers, body=body)


@pytest.mark.parametrize("uid", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "x" * 300])
def test_unknown_upload_id_is_404_blob_upload_unknown(client, existing_repo, unchanged_store, uid):
    for method, body in UPLOAD_METHODS:
        r = upload_request(client, existing_repo, uid, method, body)
        assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.parametrize("uid", ["..%2f..%2f..%2fetc", "%2e%2e", "..", "%2e%2e%2f%2e%2e%2fx"])
def test_traversal_upload_id_is_rejected(client, existing_repo, unchanged_store, uid):
    """An upload id that decodes to a path traversal: 404 BLOB_UPLOAD_UNKNOWN, or any
    404/400 spec error if the decoded path no longer routes to the upload endpoint."""
    for method, body in UPLOAD_METHODS:
        r = upload_request(client, existing_repo, uid, method, body)
        assert r.status in (404, 400), f"{method} upload id {uid!r}: expected 404 (or 400); got {r.status}"
        assert_error(r, r.status)


def test_wrong_content_range_is_416(client, repo):
    loc = client.new_upload(repo)
    r = client.patch(loc, data=b"0123456789", headers={"Content-Range": "3-12"})
    assert r.status_code == 416, f"first chunk must start at 0: expected 416; {describe(r)}"
    assert_error(r, 416, "RANGE_INVALID", "BLOB_UPLOAD_INVALID", "SIZE_INVALID")


def test_content_range_with_huge_numbers_is_rejected(client, repo):
    loc = client.new_upload(repo)
    r = client.patch(loc, data=b"abc", headers={"Content-Range": "0-99999999999999999999999999"})
    assert r.status_code in (400, 416), describe(r)
    s = client.get(loc)
    assert s.status_code == 204, "the session must survive a rejected chunk"


def abort_patch_midway(client, loc, half_close):
    """PATCH announcing 1000 bytes, send 10, then hang up (optionally half-closing first)."""
    path = loc.split("://", 1)[1].split("/", 1)[1]
    host, port = client.host, client.port
    req = (f"PATCH /{path} HTTP/1.1\r\nHost: {host}:{port}\r\n{client.auth_line()}Content-Type: application/octet-stream\r\n"
           f"Content-Length: 1000\r\nContent-Range: 0-999\r\n\r\n").encode() + b"x" * 10
    send_raw_bytes(host, port, req, read_timeout=0.3, half_close=half_close)


def wait_upload_status(client, loc, seconds=3.0):
    deadline = time.monotonic() + seconds
    while True:
        s = client.get(loc)
        if s.status_code == 204 or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def patch_once_released(client, url, seconds=0.5):
    """PATCH 20 bytes, retrying while the server answers 409 "in use". The server frees a
    session when it reads the hang-up, and on S3 that is a row update: a PATCH sent in
    between is refused as a conflict. The window, with the 0.3 s the hang-up took, stays
    below the 1-2 s after which a stalled holder is displaced (whole seconds), so a session
    that is never freed still fails the test."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.patch(url, data=random_bytes(20))
        if r.status_code != 409 or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


@pytest.fixture
def fresh_client(registry, registry_factory):
    """A client for a private, freshly started server (the shared one if OCIREG_URL is set):
    connection-handling bugs can depend on what the server has seen before."""
    if os.environ.get("OCIREG_URL"):
        with client_for(registry) as c:
            yield c
        return
    with client_for(registry_factory()) as c:
        yield c


@pytest.mark.parametrize("half_close", [True, False], ids=["half-close", "close"])
def test_aborted_chunk_leaves_upload_usable(fresh_client, repo, half_close):
    """A client that announces more bytes than it sends and hangs up must neither commit
    the truncated chunk nor leave the session locked: GET status MUST be 204 again."""
    client = fresh_client
    for attempt in range(5):   # the failure can be a race: try a few sessions
        loc = client.new_upload(repo)
        abort_patch_midway(client, loc, half_close)
        assert client.get("/v2/").status_code == 200
        s = wait_upload_status(client, loc)
        assert s.status_code == 204, (
            f"attempt {attempt}: 3 s after the client hung up mid-chunk, GET upload status "
            f"must be 204; {describe(s)}")
        assert s.headers.get("Range") != "0-999", "a truncated chunk must not be committed as complete"
        r = patch_once_released(client, client.abs(s.headers.get("Location") or loc))
        assert r.status_code in (202, 416), describe(r)


# --- protocol abuse ---------------------------------------------------------------------

def test_oversized_header_is_4xx_and_server_keeps_serving(client):
    host, port = client.host, client.port
    req = (f"GET /v2/ HTTP/1.1\r\nHost: {host}:{port}\r\n{client.auth_line()}Connection: close\r\nX-Big: " + "a" * (100 * 1024) +
           "\r\n\r\n").encode()
    out = send_raw_bytes(host, port, req)
    statuses = parse_statuses(out)
    if statuses:
        assert 400 <= statuses[0] < 500, f"a 100 KiB header must be refused with 4xx (431 ideally); got {statuses[0]}"
    else:
        import warnings
        warnings.warn("server closed the connection on a 100 KiB header without answering")
    assert client.get("/v2/").status_code == 200, "server must keep serving after an oversized header"


def test_many_headers_are_refused_or_served(client):
    host, port = client.host, client.port
    hdrs = "".join(f"X-H{i}: v\r\n" for i in range(5000))
    out = send_raw_bytes(host, port, f"GET /v2/ HTTP/1.1\r\nHost: {host}\r\n{client.auth_line()}Connection: close\r\n{hdrs}\r\n".encode())
    statuses = parse_statuses(out)
    assert not statuses or statuses[0] == 200 or 400 <= statuses[0] < 500, statuses
    assert client.get("/v2/").status_code == 200


def test_oversized_request_line_is_4xx(client):
    host, port = client.host, client.port
    out = send_raw_bytes(host, port, f"GET /v2/{'a' * 100000}/tags/list HTTP/1.1\r\nHost: {host}\r\n{client.auth_line()}Connection: close\r\n\r\n".encode())
    statuses = parse_statuses(out)
    assert not statuses or 400 <= statuses[0] < 500, statuses
    assert client.get("/v2/").status_code == 200


def test_body_on_get_does_not_break_the_connection(client):
    """GET with a body: the body must be consumed (Content-Length framing) so the next
    pipelined request on the connection is parsed correctly."""
    host, port = client.host, client.port
    body = b"GET /garbage HTTP/1.1\r\n\r\n"   # would be a second request if not consumed
    req = (f"GET /v2/ HTTP/1.1\r\nHost: {host}:{port}\r\n{client.auth_line()}Content-Length: {len(body)}\r\n\r\n").encode() + body
    req += f"GET /v2/ HTTP/1.1\r\nHost: {host}:{port}\r\n{client.auth_line()}Connection: close\r\n\r\n".encode()
    out = send_raw_bytes(host, port, req)
    statuses = parse_statuses(out)
    assert statuses, f"no response to GET with a body: {out[:200]!r}"
    assert statuses[0] == 200, f"GET /v2/ with a body must still be 200; got {statuses}"
    assert 404 not in statuses, f"the GET body was parsed as a request: {statuses}"
    if len(statuses) > 1:
        assert statuses[1] == 200, f"the pipelined request after a GET body must be 200; got {statuses}"
    assert client.get("/v2/").status_code == 200


def test_garbage_request_line_is_400(client):
    host, port = client.host, client.port
    out = send_raw_bytes(host, port, b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n", read_timeout=1)
    statuses = parse_statuses(out)
    assert not statuses or statuses[0] in (400, 405, 501, 505), statuses
    assert client.get("/v2/").status_code == 200


def test_http_1_0_request_is_served(client):
    host, port = client.host, client.port
    out = send_raw_bytes(host, port, f"GET /v2/ HTTP/1.0\r\n{client.auth_line()}\r\n".encode())
    assert parse_statuses(out)[:1] == [200], out[:200]


def test_unknown_method_is_rejected(client, repo, unchanged_store):
    r = client.raw("BREW", f"/v2/{repo}/tags/list")
    assert r.status in (400, 404, 405, 501), r.status


def test_half_open_connection_does_not_block_others(client):
    """A client that sends half a request line and stalls must not block other clients."""
    import socket
    s = socket.create_connection((client.host, client.port))
    try:
        s.sendall(b"GET /v2/ HT")
        t = time.monotonic()
        assert client.get("/v2/", timeout=5).status_code == 200
        assert time.monotonic() - t < 5
    finally:
        s.close()


def test_chunked_transfer_encoding_upload(client, repo):
    """Transfer-Encoding: chunked request bodies (used by streaming clients) must work."""
    data = random_bytes(5000)
    loc = client.new_upload(repo)

    def gen():
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]
    r = client.patch(loc, data=gen(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, describe(r)
    assert r.headers.get("Range") == "0-4999", r.headers.get("Range")
    loc = client.abs(r.headers["Location"])
    r = client.put(loc, params={"digest": digest_of(data)})
    assert r.status_code == 201, describe(r)
    assert client.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


def test_error_bodies_are_json_with_spec_codes(client, new_repo):
    """A sample of failures: each JSON error body has errors[].code from the spec table."""
    repo = new_repo()
    for r in (client.get(f"/v2/{repo}/tags/list"),
              client.get(f"/v2/{repo}/manifests/latest"),
              client.get(f"/v2/{repo}/blobs/sha256:{ZERO}")):
        assert r.status_code == 404
        assert r.headers.get("Content-Type", "").startswith("application/json"), (
            f"error body should be application/json; got {r.headers.get('Content-Type')!r}")
        assert_error(r, 404)


# --- hostile JSON in manifests -----------------------------------------------------------

HOSTILE_BODIES = {
    "deep-arrays": b"[" * 200000 + b"]" * 200000,
    "deep-objects": b'{"a":' * 100000 + b"1" + b"}" * 100000,
    "deep-in-annotations": (b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() +
                            b'","annotations":' + b'{"a":' * 50000 + b'"x"' + b"}" * 50000 + b"}"),
    "huge-number-size": (b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() +
                         b'","config":{"mediaType":"a/b","digest":"sha256:' + ZERO.encode() +
                         b'","size":99999999999999999999999999999999},"layers":[]}'),
    "negative-size": (b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() +
                      b'","config":{"mediaType":"a/b","digest":"sha256:' + ZERO.encode() +
                      b'","size":-5},"layers":[]}'),
    "float-schema-version": b'{"schemaVersion":2.5e308,"mediaType":"' + MT_OCI_MANIFEST.encode() + b'"}',
    "invalid-utf8": b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() + b'","annotations":{"\xff\xfe":"\xc3\x28"}}',
    "nul-in-string": b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() + b'\\u0000x"}',
    "truncated": b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() + b'","config":{"mediaType":',
    "unterminated-string": b'{"schemaVersion":2,"mediaType":"abc',
    "lone-surrogate": b'{"schemaVersion":2,"mediaType":"' + MT_OCI_MANIFEST.encode() + b'","annotations":{"k":"\\ud800"}}',
    "trailing-garbage": b'{"schemaVersion":2}garbage',
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES), ids=list(HOSTILE_BODIES))
def test_hostile_manifest_json_is_400_and_server_survives(client, existing_repo, unchanged_store, name):
    r = client.put_manifest(existing_repo, "hostile", HOSTILE_BODIES[name])
    assert_error(r, 400, "MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID", "SIZE_INVALID")
    assert client.get_manifest(existing_repo, "hostile").status_code == 404


def test_hostile_manifest_json_as_index(client, existing_repo, unchanged_store):
    from .oci import MT_OCI_INDEX
    body = b'{"schemaVersion":2,"mediaType":"' + MT_OCI_INDEX.encode() + b'","manifests":' + b"[" * 100000 + b"]" * 100000 + b"}"
    r = client.put_manifest(existing_repo, "hostile", body, MT_OCI_INDEX)
    assert_error(r, 400, "MANIFEST_INVALID")


# --- HTTP framing abuse -----------------------------------------------------------------

def _status_of(client, raw_request):
    out = send_raw_bytes(client.host, client.port, raw_request, read_timeout=2)
    return parse_statuses(out)


def test_conflicting_content_length_headers_are_400(client, existing_repo):
    """RFC 9112 6.3: differing Content-Length values are unrecoverable -> 400."""
    h = f"{client.host}"
    req = (f"POST /v2/{existing_repo}/blobs/uploads/ HTTP/1.1\r\nHost: {h}\r\n{client.auth_line()}Connection: close\r\n"
           "Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello").encode()
    statuses = _status_of(client, req)
    assert not statuses or statuses[0] == 400, f"conflicting Content-Length: expected 400 or a closed connection; got {statuses}"
    assert client.get("/v2/").status_code == 200


@pytest.mark.parametrize("cl", ["-1", "abc", "1e3", "99999999999999999999999999"])
def test_invalid_content_length_is_rejected(client, existing_repo, unchanged_store, cl):
    req = (f"POST /v2/{existing_repo}/blobs/uploads/ HTTP/1.1\r\nHost: {client.host}\r\n{client.auth_line()}Connection: close\r\n"
           f"Content-Length: {cl}\r\n\r\nhello").encode()
    statuses = _status_of(client, req)
    assert not statuses or 400 <= statuses[0] < 500, f"Content-Length {cl!r}: expected 4xx or a closed connection; got {statuses}"
    assert client.get("/v2/").status_code == 200


def test_malformed_chunked_encoding_is_rejected(client, repo):
    loc = client.new_upload(repo)
    path = "/" + loc.split("://", 1)[1].split("/", 1)[1]
    req = (f"PATCH {path} HTTP/1.1\r\nHost: {client.host}\r\n{client.auth_line()}Connection: close\r\n"
           "Transfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n").encode()
    statuses = _status_of(client, req)
    assert not statuses or 400 <= statuses[0] < 500, f"malformed chunk size: expected 4xx or a closed connection; got {statuses}"
    assert client.get("/v2/").status_code == 200
    s = client.get(loc)
    if s.status_code == 204:
        assert s.headers.get("Range") != "0-4", "bytes of a malformed chunked body must not be committed"


def test_huge_chunk_size_is_rejected(client, repo):
    loc = client.new_upload(repo)
    path = "/" + loc.split("://", 1)[1].split("/", 1)[1]
    req = (f"PATCH {path} HTTP/1.1\r\nHost: {client.host}\r\n{client.auth_line()}Connection: close\r\n"
           "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n").encode()
    statuses = _status_of(client, req)
    assert not statuses or 400 <= statuses[0] < 500, statuses
    assert client.get("/v2/").status_code == 200


def test_many_concurrent_idle_connections_do_not_block_service(client):
    import socket
    socks = []
    try:
        for _ in range(64):
            s = socket.create_connection((client.host, client.port))
            s.sendall(b"GET /v2/ HTTP/1.1\r\n")
            socks.append(s)
        t = time.monotonic()
        assert client.get("/v2/", timeout=5).status_code == 200
        assert time.monotonic() - t < 5
    finally:
        for s in socks:
            s.close()
