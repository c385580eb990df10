"""Hardening at the HTTP edge (issue 17): what a SigV4 signature must cover, no memory held for
unauthenticated bodies, a minimum body rate, strict Transfer-Encoding framing, Content-Range
against a chunked body, and answers that survive the close (lingering close)."""
import datetime
import hashlib
import hmac
import os
import socket
import time

import pytest
import requests

from authutil import grant, user_with_key

TARGET = "AmazonEC2ContainerRegistry_V20150921."
LOOPS_CLIENT_HELLO = 200
UNAUTHENTICATED_CONNECTIONS = 100


# ---- helpers ----

def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signed_ecr_headers(host, key, operation, body, signed=None, extra=None):
    """Headers of an ECR call signed with SigV4 over the header names in `signed` (default:
    everything sent, as the SDKs do); `extra` headers are sent as well."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    hdrs = {"host": host, "x-amz-date": amz_date, "x-amz-target": TARGET + operation,
            "content-type": "application/x-amz-json-1.1"}
    hdrs.update({k.lower(): v for k, v in (extra or {}).items()})
    names = sorted(signed or hdrs)
    payload = hashlib.sha256(body).hexdigest()
    canonical = "\n".join(["POST", "/", ""] + [f"{n}:{hdrs[n].strip()}" for n in names]
                          + ["", ";".join(names), payload])
    scope = f"{day}/us-east-1/ecr/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = _hmac(_hmac(_hmac(_hmac(("AWS4" + key["SecretAccessKey"]).encode(), day), "us-east-1"),
                    "ecr"), "aws4_request")
    hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key['AccessKeyId']}/{scope}, "
                             f"SignedHeaders={';'.join(names)}, Signature="
                             + hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest())
    del hdrs["host"]
    return hdrs


def read_until_close(sock, limit=1 << 20):
    """Everything the server sends until it closes; raises on a reset."""
    out = b""
    while len(out) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def status_of(raw):
    line = raw.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def connect(server, timeout=10):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return s


def start_upload(server, repo):
    r = requests.post(f"{server.url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert r.status_code == 202, f"upload start: expected 202, got {r.status_code} {r.text}"
    return r.headers["Location"]


def upload_offset(server, location):
    r = requests.get(server.url + location, timeout=10)
    assert r.status_code == 204, f"upload status: expected 204, got {r.status_code}"
    return int(r.headers["Range"].split("-")[1]) + 1 if r.headers["Range"] != "0-0" else 0


# ---- SigV4: what must be signed ----

@pytest.fixture(scope="module")
def ecr_server(tmp_path_factory):
    from ocireg_harness import RegistryServer
    data = tmp_path_factory.mktemp("hardening-ecr") / "data"
    key = user_with_key(data, "admin", "admin-pass", "*")  # DescribeRegistry needs a grant on *
    server = RegistryServer(data).start()
    yield server, key
    server.stop()


def ecr_post(server, key, operation, body=b"{}", **kw):
    headers = signed_ecr_headers(server.host, key, operation, body, **kw)
    return requests.post(server.url + "/", data=body, headers=headers, timeout=10)


def test_fully_signed_ecr_call_is_accepted(ecr_server):
    server, key = ecr_server
    r = ecr_post(server, key, "DescribeRegistry")
    assert r.status_code == 200, f"expected 200 for a request signing every header: {r.text}"


def test_signature_without_target_cannot_be_replayed_as_another_call(ecr_server):
    """A ListImages signature over host;x-amz-date only would pass with any X-Amz-Target."""
    server, key = ecr_server
    body = b'{"repositoryName": "ecr/app"}'
    headers = signed_ecr_headers(server.host, key, "ListImages", body,
                                 signed=["host", "x-amz-date"])
    headers["x-amz-target"] = TARGET + "GetAuthorizationToken"
    r = requests.post(server.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 403, f"expected 403, got {r.status_code}: {r.text}"
    assert r.json()["__type"] == "InvalidSignatureException"
    assert "x-amz-target" in r.json()["message"]


def test_unsigned_amz_header_is_refused(ecr_server):
    server, key = ecr_server
    r = ecr_post(server, key, "DescribeRegistry",
                 signed=["content-type", "host", "x-amz-date", "x-amz-target"],
                 extra={"X-Amz-Security-Token": "anything"})
    assert r.status_code == 403, f"expected 403 for an unsigned x-amz-* header, got {r.text}"
    assert "x-amz-security-token" in r.json()["message"].lower()


def test_stale_date_is_refused_before_the_body(ecr_server):
    """The date window is checked from the headers: the 403 comes while the body is unsent."""
    server, key = ecr_server
    headers = signed_ecr_headers(server.host, key, "DescribeRegistry", b"{}")
    headers["x-amz-date"] = "20200101T000000Z"
    s = connect(server)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(f"POST / HTTP/1.1\r\nHost: {server.host}\r\n{head}"
                  f"Content-Length: 500000\r\n\r\n{{".encode())
        raw = s.recv(65536)
    finally:
        s.close()
    assert status_of(raw) == 403, f"expected 403 before the body, got {raw[:200]!r}"


def test_unauthenticated_bodies_hold_no_memory(ecr_server):
    """Connections without valid credentials, each announcing nearly 1 MiB and sending half of
    it, get their 403 at once and do not make the server hold their bodies."""
    server, key = ecr_server
    partial = b"{" + b" " * (512 * 1024)
    before = server.vm_hwm_kib()
    socks, statuses = [], []
    deadline = time.monotonic() + 60
    try:
        for i in range(UNAUTHENTICATED_CONNECTIONS):
            auth = ("" if i % 2 else
                    "Authorization: AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/20260101/"
                    "us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, "
                    f"Signature={'0' * 64}\r\nX-Amz-Date: 20260101T000000Z\r\n")
            s = connect(server, timeout=5)
            socks.append(s)
            s.sendall(f"POST / HTTP/1.1\r\nHost: {server.host}\r\n{auth}"
                      f"X-Amz-Target: {TARGET}DescribeRegistry\r\n"
                      f"Content-Length: {1000 * 1000}\r\n\r\n".encode())
            try:
                s.sendall(partial)
            except OSError:
                pass  # refused and closed already: what is wanted
        for s in socks:
            assert time.monotonic() < deadline, "the 403 answers took too long"
            try:
                statuses.append(status_of(s.recv(65536)))
            except socket.timeout:
                statuses.append("no answer while the body is incomplete")
        grown_mib = (server.vm_hwm_kib() - before) / 1024
    finally:
        for s in socks:
            s.close()
    assert set(statuses) == {400, 403}, f"expected only 400/403 answers, got {set(statuses)}"
    assert grown_mib < 24, f"peak memory grew {grown_mib:.0f} MiB for unauthenticated bodies"


# ---- answers that survive the close ----

def fake_client_hello():
    """Shaped as a Go 1.24 ClientHello with its post-quantum key share (about 1.8 KB): a TLS
    record header, then bytes including a line feed early on (supported_groups is 0x000a)."""
    body = bytes([0x01, 0x00, 0x07, 0x00, 0x03, 0x03]) + os.urandom(32) + b"\x00\x0a\x00\x1d"
    body += os.urandom(1800 - len(body))
    return bytes([0x16, 0x03, 0x01, len(body) >> 8, len(body) & 0xFF]) + body


def test_client_hello_on_plain_port_always_gets_400(registry_factory):
    server = registry_factory(["--access-log", "false"])
    failures = []
    for i in range(LOOPS_CLIENT_HELLO):
        s = connect(server, timeout=5)
        try:
            s.sendall(fake_client_hello())
            raw = read_until_close(s)
            if status_of(raw) != 400:
                failures.append(f"run {i}: {raw[:60]!r}")
        except OSError as e:
            failures.append(f"run {i}: {e!r}")
        finally:
            s.close()
    assert not failures, (f"{len(failures)} of {LOOPS_CLIENT_HELLO} ClientHellos did not get "
                          f"their 400: {failures[:5]}")


# ---- framing ----

def raw_request(server, head, body=b"", timeout=10):
    """Send a request head (CRLF-joined lines, Host added) and body; return (status, raw)."""
    s = connect(server, timeout=timeout)
    try:
        s.sendall(("\r\n".join([head[0], f"Host: {server.host}"] + head[1:]) + "\r\n\r\n")
                  .encode() + body)
        raw = read_until_close(s) if b"Connection: close" in body else s.recv(65536)
    finally:
        s.close()
    return status_of(raw), raw


def chunked(*pieces):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def test_transfer_coding_other_than_chunked_is_501(registry):
    location = start_upload(registry, "edge/te")
    status, raw = raw_request(registry, [f"PATCH {location} HTTP/1.1",
                                         "Transfer-Encoding: gzip, chunked",
                                         "Content-Type: application/octet-stream"],
                              chunked(b"hello"))
    assert status == 501, f"expected 501 for Transfer-Encoding: gzip, chunked, got {raw[:200]!r}"
    assert upload_offset(registry, location) == 0, "the refused body must not be stored"


def test_chunked_with_content_length_is_400(registry):
    location = start_upload(registry, "edge/te")
    status, raw = raw_request(registry, [f"PATCH {location} HTTP/1.1",
                                         "Transfer-Encoding: chunked", "Content-Length: 10",
                                         "Content-Type: application/octet-stream"],
                              chunked(b"hello"))
    assert status == 400, f"expected 400 for chunked plus Content-Length, got {raw[:200]!r}"
    assert upload_offset(registry, location) == 0


def test_plain_chunked_patch_still_works(registry):
    location = start_upload(registry, "edge/te")
    status, raw = raw_request(registry, [f"PATCH {location} HTTP/1.1",
                                         "Transfer-Encoding: chunked", "Content-Range: 0-9",
                                         "Content-Type: application/octet-stream"],
                              chunked(b"hello", b"world"))
    assert status == 202, f"expected 202, got {raw[:300]!r}"
    assert upload_offset(registry, location) == 10


@pytest.mark.parametrize("pieces", [(b"hello", b"world!"), (b"hello",)],
                         ids=["longer", "shorter"])
def test_chunked_body_disagreeing_with_content_range_is_416(registry, pieces):
    location = start_upload(registry, "edge/range")
    status, raw = raw_request(registry, [f"PATCH {location} HTTP/1.1",
                                         "Transfer-Encoding: chunked", "Content-Range: 0-9",
                                         "Content-Type: application/octet-stream"],
                              chunked(*pieces))
    assert status == 416, f"expected 416 for a body unlike its Content-Range, got {raw[:300]!r}"
    assert b"RANGE_INVALID" in raw
    stored = upload_offset(registry, location)
    assert stored <= 10, f"no byte beyond the announced range may be stored, {stored} are"
    assert f"Range: 0-{stored - 1}".encode() in raw or stored == 0, \
        f"the 416 must say where the session stands ({stored} bytes): {raw[:300]!r}"


# ---- bodies make progress or go ----

SLOW_BODY_ARGS = ["--body-timeout", "2", "--body-min-rate", "1000"]


def test_trickling_body_is_cut_off(registry_factory):
    """A byte a second resets libmicrohttpd's idle timer; the body clock does not."""
    server = registry_factory(SLOW_BODY_ARGS)
    location = start_upload(server, "edge/slow")
    s = connect(server, timeout=1)
    start = time.monotonic()
    closed_after = None
    try:
        s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\n"
                  "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
                  .encode())
        while time.monotonic() - start < 12:
            try:
                s.sendall(b"x")
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                continue  # still open: nothing to read within the second
            except OSError:
                closed_after = time.monotonic() - start
                break
    finally:
        s.close()
    assert closed_after is not None, "a body trickling a byte a second was never cut off"
    assert closed_after < 6, f"cut off after {closed_after:.1f}s, expected about 2-3s"


def test_steady_body_above_the_minimum_rate_is_kept(registry_factory):
    """4,000 bytes a second for 4 s against --body-min-rate 1000: each second earns more."""
    server = registry_factory(SLOW_BODY_ARGS)
    location = start_upload(server, "edge/steady")
    total = 16000
    s = connect(server, timeout=10)
    try:
        s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  f"Content-Length: {total}\r\n\r\n".encode())
        for _ in range(total // 400):
            s.sendall(b"y" * 400)
            time.sleep(0.1)
        raw = s.recv(65536)
    finally:
        s.close()
    assert status_of(raw) == 202, f"a steady body should complete, got {raw[:200]!r}"
    assert upload_offset(server, location) == total


# ---- lingering close ----

def test_early_answer_survives_a_body_still_coming_and_the_linger_is_bounded(registry):
    """A PATCH refused at its headers (unknown session) while the client, as python-requests
    does, writes 8 MiB of its 100 MB body before reading: the 404 must still be there to read
    (closing with unread input would reset it away), and the server must let go of the
    connection after a bounded linger (LINGER_MS, 2 s) while the client keeps sending."""
    s = connect(registry, timeout=10)
    try:
        s.sendall(f"PATCH /v2/edge/linger/blobs/uploads/no-such-session HTTP/1.1\r\n"
                  f"Host: {registry.host}\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Length: {100 << 20}\r\n\r\n".encode())
        try:
            for _ in range(128):
                s.sendall(b"z" * 65536)
        except OSError:
            pass  # the server may stop reading: the answer must be there all the same
        try:
            answer = read_until_close(s)
        except OSError as e:
            answer = repr(e).encode()
        assert status_of(answer) == 404, f"the early 404 was lost: {answer[:200]!r}"
        start, ended = time.monotonic(), None
        while time.monotonic() - start < 15:
            try:
                s.sendall(b"z" * 65536)
            except OSError:
                ended = time.monotonic() - start
                break
        assert ended is not None and ended < 8, "the server kept reading the body past its linger"
        assert ended >= 1, (f"the connection was reset {ended:.2f}s after the answer: input "
                            "must be drained for a while (lingering close), not reset at once")
    finally:
        s.close()
