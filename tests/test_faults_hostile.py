"""Hostile clients: slow-loris headers, a PATCH that stalls mid-body, 300 keep-alive
connections at once, a 100 KiB header, deeply nested manifest JSON, an oversized manifest and a
32 MiB chunked PATCH body (streamed, not buffered). The server must keep serving everyone else,
answer with the right 4xx, and not grow."""
import hashlib
import json
import os
import select
import socket
import threading
import time

import pytest
import requests

from faultutil import (blob_problem, digest_of, error_code, log_tail, range_end, vm_hwm_kib,
                       OCI_MANIFEST, TIMEOUT)

HOST = "127.0.0.1"


# ---- raw HTTP over a socket ----

def connect(srv, timeout=10):
    sock = socket.create_connection((HOST, srv.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock, timeout=10):
    """Read one HTTP/1.1 response: (status, headers dict (lower-case), body). Raises OSError or
    EOFError when the connection ends first."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} bytes of response")
        buf += chunk
        if len(buf) > 1 << 20:
            raise EOFError("response header over 1 MiB")
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed inside the response body")
            body += chunk
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def raw_exchange(srv, head, body=b"", timeout=15):
    """Send head (+ body, ignoring a send that fails because the server answered early) and
    read the answer: (status or None, headers, body, error text)."""
    sock = connect(srv, timeout)
    try:
        send_error = None
        try:
            sock.sendall(head + body)
        except OSError as e:
            send_error = repr(e)
        try:
            status, headers, rbody = read_response(sock, timeout)
            return status, headers, rbody, send_error
        except (OSError, EOFError) as e:
            return None, {}, b"", f"send: {send_error}, receive: {e!r}"
    finally:
        sock.close()


def alive(srv):
    assert srv.proc.poll() is None, f"the server died: exit {srv.proc.returncode}\n" \
                                    f"{log_tail(srv)}"
    r = requests.get(f"{srv.url}/v2/", timeout=5)
    assert r.status_code == 200, f"GET /v2/ after the attack: {r.status_code}"


def peer_closed(sock):
    """True when the server has closed, reset or answered (408, then closes) this connection:
    anything readable on a connection whose request is unfinished."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (ConnectionError, OSError):
        return True


# ---- tests ----

def test_slow_loris_headers_are_cut_off_and_others_served(registry_factory):
    srv = registry_factory(extra_args=["--connection-timeout", "3", "--access-log", "false"])
    n, trickle_seconds = 50, 9
    socks, opened, closed = [], [], {}
    for _ in range(n):
        socks.append(connect(srv))
        opened.append(time.monotonic())
    partial = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    # Control: connections that send a partial header once and then nothing at all.
    silent = [connect(srv) for _ in range(3)]
    for sock in silent:
        sock.sendall(partial)
    silent_opened, silent_closed = time.monotonic(), {}
    served = []
    stop = threading.Event()

    def normal_client():
        with requests.Session() as s:
            for i in range(200):
                if stop.is_set():
                    break
                t0 = time.monotonic()
                try:
                    r = s.get(f"{srv.url}/v2/", timeout=5)
                    b = os.urandom(2000) + b"%d" % i
                    p = s.post(f"{srv.url}/v2/loris/ok/blobs/uploads/",
                               params={"digest": digest_of(b)}, data=b, timeout=5)
                    served.append((r.status_code, p.status_code, time.monotonic() - t0))
                except requests.RequestException as e:
                    served.append((None, None, repr(e)))
                time.sleep(0.2)

    t = threading.Thread(target=normal_client)
    t.start()
    try:
        start = time.monotonic()
        for second in range(trickle_seconds + 1):
            for k, sk in enumerate(silent):
                if k not in silent_closed and peer_closed(sk):
                    silent_closed[k] = time.monotonic() - silent_opened
            for i, sock in enumerate(socks):
                if i in closed:
                    continue
                if peer_closed(sock):
                    closed[i] = time.monotonic() - opened[i]
                    continue
                byte = partial[second:second + 1] or b"a"
                try:
                    sock.send(byte)
                except OSError:
                    closed[i] = time.monotonic() - opened[i]
            if len(closed) == n and len(silent_closed) == len(silent):
                break
            time.sleep(max(0.0, start + second + 1 - time.monotonic()))
    finally:
        stop.set()
        t.join(30)
        for sock in socks + silent:
            sock.close()
    assert len(silent_closed) == len(silent) and max(silent_closed.values()) <= 6, \
        f"with --connection-timeout 3, connections silent after a partial header should be " \
        f"closed within 6 s: closed after {sorted(silent_closed.values())} of {len(silent)}"
    bad = [x for x in served if x[0] != 200 or x[1] != 201 or x[2] > 2]
    assert served and not bad, \
        f"normal requests during the slow-loris attack: {len(bad)} of {len(served)} failed " \
        f"or took over 2 s: {bad[:5]}"
    still_open = n - len(closed)
    late = sorted(v for v in closed.values() if v > 6)
    assert still_open == 0 and not late, \
        f"with --connection-timeout 3, {still_open} of {n} connections that sent one header " \
        f"byte per second were still open after {trickle_seconds} s, and {len(late)} closed " \
        f"only after 6 s ({late[:5]}); closed ones after {sorted(closed.values())[:5]} s. " \
        f"(Silent connections were closed after {sorted(silent_closed.values())} s: every " \
        f"byte restarts the idle timer, and nothing bounds the time to send a header.)"
    alive(srv)


def test_stalled_patch_releases_its_session(registry_factory):
    srv = registry_factory()
    data = os.urandom(3 << 20)
    digest = digest_of(data)
    r = requests.post(f"{srv.url}/v2/stall/blob/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202
    path = r.headers["Location"]
    sent = 256 << 10
    stalled = connect(srv)
    try:
        stalled.sendall(f"PATCH {path} HTTP/1.1\r\nHost: {srv.host}\r\n"
                        f"Content-Type: application/octet-stream\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:sent])
        # The stalled client neither sends nor reads from now on.
        time.sleep(0.3)
        t0 = time.monotonic()
        st = requests.get(srv.url + path, timeout=5)
        assert st.status_code == 204, \
            f"GET status of a session whose PATCH stalled: expected 204 at once, got " \
            f"{st.status_code} {st.text}"
        took_over, attempts, last = None, [], None
        while time.monotonic() - t0 < 12 and took_over is None:
            st = requests.get(srv.url + path, timeout=5)
            end = range_end(st)
            if st.status_code != 204 or end is None:
                pytest.fail(f"GET status during the stall: {st.status_code} {st.headers}")
            offset = 0 if end == 0 else end + 1
            rest = data[offset:]
            last = requests.patch(srv.url + path, data=rest, timeout=10, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{len(data) - 1}"})
            attempts.append((round(time.monotonic() - t0, 2), last.status_code,
                             error_code(last)))
            if last.status_code == 202:
                took_over = time.monotonic() - t0
                break
            assert last.status_code in (409, 416), \
                f"PATCH while the owner stalls: expected 409 (busy) or 202, got " \
                f"{last.status_code} {last.text}"
            time.sleep(0.25)
        assert took_over is not None, \
            f"no PATCH could take over the session of a stalled PATCH within 12 s: " \
            f"{attempts[-5:]}\n{log_tail(srv)}"
        loc = srv.url + last.headers["Location"]
        r = requests.put(loc + ("&" if "?" in loc else "?") + f"digest={digest}",
                         timeout=TIMEOUT)
        assert r.status_code == 201, f"PUT after the takeover: {r.status_code} {r.text}"
        # The old owner wakes up and sends the rest: it must not touch the committed blob.
        try:
            stalled.sendall(data[sent:])
            status, _, _ = read_response(stalled, 10)
        except (OSError, EOFError):
            status = None
        assert status is None or status >= 400, \
            f"the displaced PATCH must not succeed, got {status}"
        with requests.Session() as s:
            p = blob_problem(s, srv.url, "stall/blob", digest, len(data))
        assert p is None, p
        print(f"\nstalled PATCH: taken over after {took_over:.1f} s; displaced owner got "
              f"{status}")
    finally:
        stalled.close()
    alive(srv)


def test_1024_keepalive_connections_at_once(registry_factory):
    """A burst as large as the benchmark's: every connection is accepted and served, twice."""
    srv = registry_factory(extra_args=["--access-log", "false"])
    n = 1024
    socks, errors = [], []
    try:
        for _ in range(n):
            socks.append(connect(srv))
        req = f"GET /v2/ HTTP/1.1\r\nHost: {srv.host}\r\n\r\n".encode()
        for round_no in range(2):              # the second request reuses each connection
            for i, sock in enumerate(socks):
                try:
                    sock.sendall(req)
                except OSError as e:
                    errors.append((round_no, i, f"send: {e!r}"))
            for i, sock in enumerate(socks):
                try:
                    status, headers, body = read_response(sock, 15)
                    if status != 200 or headers.get("connection", "").lower() == "close":
                        errors.append((round_no, i, status, headers.get("connection")))
                except (OSError, EOFError) as e:
                    errors.append((round_no, i, f"receive: {e!r}"))
    finally:
        for sock in socks:
            sock.close()
    assert not errors, f"{len(errors)} of {2 * n} keep-alive GET /v2/ failed: {errors[:5]}"
    alive(srv)


def test_connections_over_the_limit_get_503_not_a_hang(registry_factory):
    """With --max-connections 20, a connection beyond the limit is answered 503 UNAVAILABLE
    with Retry-After and closed; the ones within it stay served, and once they close the
    server takes new ones again. (The harness's own readiness check may still hold a
    connection for a moment, so the first refusal may come one or two early.)"""
    srv = registry_factory(extra_args=["--access-log", "false", "--max-connections", "20"])
    req = f"GET /v2/ HTTP/1.1\r\nHost: {srv.host}\r\n\r\n".encode()
    served, refused = [], None
    try:
        while refused is None and len(served) < 30:
            sock = connect(srv)
            sock.sendall(req)
            status, headers, body = read_response(sock, 15)
            if status == 200:
                served.append(sock)
                continue
            sock.close()
            refused = (status, headers, body)
        assert refused is not None, "30 connections served with --max-connections 20"
        assert 18 <= len(served) <= 20, f"refused after {len(served)} connections"
        status, headers, body = refused
        assert status == 503, (status, body)
        assert headers.get("retry-after") == "1"
        assert headers.get("connection", "").lower() == "close"
        assert json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
        for sock in served:                     # the ones within the limit are still served
            sock.sendall(req)
            assert read_response(sock, 15)[0] == 200
    finally:
        for sock in served:
            sock.close()
    deadline = time.monotonic() + 15
    while True:                                 # MHD notices the closes on its next turn
        try:
            if requests.get(f"{srv.url}/v2/", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "no connection served after the held ones closed"
        time.sleep(0.1)


@pytest.mark.parametrize("shape", ["one-header", "many-headers"])
def test_100kib_request_header_is_refused(registry_factory, shape):
    srv = registry_factory(extra_args=["--access-log", "false"])
    if shape == "one-header":
        extra = b"X-Big: " + b"a" * (100 << 10) + b"\r\n"
    else:
        extra = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 90) for i in range(1024))
    head = f"GET /v2/ HTTP/1.1\r\nHost: {srv.host}\r\n".encode() + extra + b"\r\n"
    t0 = time.monotonic()
    status, headers, body, err = raw_exchange(srv, head)
    assert status is not None and 400 <= status < 500, \
        f"a request with a 100 KiB header ({shape}): expected a 4xx answer, got " \
        f"{status} ({err}) after {time.monotonic() - t0:.1f} s"
    alive(srv)


MANIFEST_HEAD = ("PUT /v2/hostile/m/manifests/{ref} HTTP/1.1\r\nHost: {host}\r\n"
                 "Content-Type: " + OCI_MANIFEST + "\r\n")


@pytest.mark.parametrize("shape", ["arrays", "objects", "inside-valid-manifest"])
def test_deeply_nested_manifest_is_refused_quickly(registry_factory, shape):
    srv = registry_factory(extra_args=["--access-log", "false"])
    depth = 100000
    if shape == "arrays":
        body = b"[" * depth
    elif shape == "objects":
        body = b'{"a":' * depth + b"1" + b"}" * depth
    else:
        body = (b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() +
                b'","config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
                b'"digest":"sha256:' + b"0" * 64 + b'","size":2},"layers":[],"x":' +
                b"[" * depth + b"]" * depth + b"}")
    t0 = time.monotonic()
    r = requests.put(f"{srv.url}/v2/hostile/m/manifests/deep", data=body, timeout=30,
                     headers={"Content-Type": OCI_MANIFEST})
    took = time.monotonic() - t0
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", \
        f"{depth} levels of nesting ({shape}): expected 400 MANIFEST_INVALID, got " \
        f"{r.status_code} {r.text[:300]}"
    assert took < 2, f"refusing the nested manifest took {took:.1f} s"
    alive(srv)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_manifest_over_4mib_gets_413(registry_factory, framing):
    srv = registry_factory(extra_args=["--access-log", "false"])
    size = (4 << 20) + 1
    prefix, suffix = b'{"schemaVersion":2,"x":"', b'"}'
    body = prefix + b"a" * (size - len(prefix) - len(suffix)) + suffix
    assert len(body) == size
    head = MANIFEST_HEAD.format(ref="big", host=srv.host).encode()
    if framing == "content-length":
        status, headers, rbody, err = raw_exchange(
            srv, head + f"Content-Length: {size}\r\n\r\n".encode(), body)
    else:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, size, 65536))
        status, headers, rbody, err = raw_exchange(
            srv, head + b"Transfer-Encoding: chunked\r\n\r\n", chunks + b"0\r\n\r\n")
    assert status == 413, \
        f"a {size}-byte manifest ({framing}): expected 413, got {status} " \
        f"{rbody[:200]!r} ({err})"
    assert requests.get(f"{srv.url}/v2/hostile/m/manifests/big", timeout=5).status_code == 404
    alive(srv)


def test_32mib_chunked_patch_is_streamed(registry_factory):
    srv = registry_factory(extra_args=["--access-log", "false"])
    total, piece = 32 << 20, 64 << 10
    seed = hashlib.sha512(b"chunked patch").digest() * (piece // 64)
    h = hashlib.sha256()
    for i in range(total // piece):
        h.update(i.to_bytes(8, "little") + seed[8:])
    digest = "sha256:" + h.hexdigest()

    def body():
        for i in range(total // piece):
            yield i.to_bytes(8, "little") + seed[8:]

    r = requests.post(f"{srv.url}/v2/hostile/stream/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202
    before = vm_hwm_kib(srv.proc.pid)
    r = requests.patch(srv.url + r.headers["Location"], data=body(), timeout=120,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 202, f"chunked PATCH of 32 MiB: {r.status_code} {r.text}"
    assert range_end(r) == total - 1, f"Range after the PATCH: {r.headers.get('Range')}"
    hwm = vm_hwm_kib(srv.proc.pid)
    loc = srv.url + r.headers["Location"]
    r = requests.put(loc + ("&" if "?" in loc else "?") + f"digest={digest}", timeout=TIMEOUT)
    assert r.status_code == 201, f"PUT after the chunked PATCH: {r.status_code} {r.text}"
    with requests.Session() as s:
        p = blob_problem(s, srv.url, "hostile/stream", digest, total)
    assert p is None, p
    print(f"\nVmHWM before the PATCH {before} KiB, after {hwm} KiB")
    assert hwm < 40 * 1024, \
        f"server peak RSS {hwm} KiB after a 32 MiB chunked PATCH (before: {before} KiB); " \
        f"expected well under 64 MiB"
    assert hwm - before < 16 * 1024, \
        f"a 32 MiB chunked PATCH raised the server's peak RSS by {hwm - before} KiB"
