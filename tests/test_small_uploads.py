"""A whole small blob in one request (POST, then a PUT ?digest= carrying it; or POST ?digest=
with the body) is published from memory: no spool file is made for it, a session's spool
appears only with its first byte, and the blob is as durable as any other (SIGKILL right after
its 201 loses nothing, fsck is clean). What goes wrong still answers as a streamed body does."""
import os

import requests

from faultutil import fsck_failures
from regutil import TIMEOUT, digest_of, location

THRESHOLD = 4096


def spools(server):
    return sorted(os.listdir(os.path.join(str(server.data), "uploads")))


def put_whole(url, loc, data):
    sep = "&" if "?" in loc else "?"
    return requests.put(f"{loc}{sep}digest={digest_of(data)}", data=data, timeout=TIMEOUT,
                        headers={"Content-Type": "application/octet-stream"})


def test_post_then_whole_put_makes_no_spool_and_survives_sigkill(registry_factory):
    server = registry_factory(["--inline-max", str(THRESHOLD)])
    blobs = [os.urandom(n) for n in (0, 1, THRESHOLD)]
    for data in blobs:
        r = requests.post(f"{server.url}/v2/small/one/blobs/uploads/", timeout=TIMEOUT)
        assert r.status_code == 202, r.text
        assert spools(server) == [], f"a session without bytes made files: {spools(server)}"
        r = put_whole(server.url, location(server.url, r), data)
        assert r.status_code == 201, r.text
        assert spools(server) == [], f"a whole small PUT left files: {spools(server)}"
    r = requests.post(f"{server.url}/v2/small/one/blobs/uploads/",
                      params={"digest": digest_of(b"monolithic")}, data=b"monolithic",
                      timeout=TIMEOUT, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert spools(server) == [], f"a monolithic POST left files: {spools(server)}"
    server.kill()
    server.start()
    for data in blobs + [b"monolithic"]:
        got = requests.get(f"{server.url}/v2/small/one/blobs/{digest_of(data)}", timeout=TIMEOUT)
        assert got.status_code == 200 and got.content == data, \
            f"a {len(data)}-byte blob acknowledged before SIGKILL: {got.status_code}"
    server.stop()
    problems = fsck_failures(server.data, allowed=())
    assert not problems, problems[0]


def test_small_put_with_a_wrong_digest_keeps_its_bytes_in_the_session(registry_factory):
    """As for a streamed body: 400 DIGEST_INVALID, and the session holds the bytes (Range)."""
    server = registry_factory(["--inline-max", str(THRESHOLD)])
    r = requests.post(f"{server.url}/v2/small/bad/blobs/uploads/", timeout=TIMEOUT)
    loc = location(server.url, r)
    sep = "&" if "?" in loc else "?"
    r = requests.put(f"{loc}{sep}digest={digest_of(b'other')}", data=b"x" * 100, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
    st = requests.get(loc, timeout=TIMEOUT)
    assert st.status_code == 204 and st.headers.get("Range") == "0-99", \
        f"the session should hold the 100 bytes: {st.status_code} {st.headers.get('Range')}"
    r = requests.post(f"{server.url}/v2/small/bad/blobs/uploads/",
                      params={"digest": digest_of(b"other")}, data=b"y" * 10, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
    assert len(spools(server)) == 1, \
        f"only the PUT's session should keep a spool (the monolithic one ends): {spools(server)}"


def test_small_patch_makes_a_spool_that_a_restart_finds(registry_factory):
    """A byte that does not end the upload is kept in a spool, found again after a restart."""
    server = registry_factory(["--inline-max", str(THRESHOLD)])
    data = os.urandom(300)
    r = requests.post(f"{server.url}/v2/small/resume/blobs/uploads/", timeout=TIMEOUT)
    r = requests.patch(location(server.url, r), data=data[:100], timeout=TIMEOUT,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    loc = location(server.url, r)
    assert len([n for n in spools(server) if not n.endswith(".repo")]) == 1, spools(server)
    server.restart()
    r = requests.patch(loc, data=data[100:], timeout=TIMEOUT,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers.get("Range") == "0-299", r.text
    loc = location(server.url, r)
    sep = "&" if "?" in loc else "?"
    r = requests.put(f"{loc}{sep}digest={digest_of(data)}", timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    got = requests.get(f"{server.url}/v2/small/resume/blobs/{digest_of(data)}", timeout=TIMEOUT)
    assert got.content == data
    assert spools(server) == [], spools(server)
    assert requests.get(loc, timeout=TIMEOUT).status_code == 404, "finished after the restart"


def test_small_monolithic_post_over_the_maximum_blob_size_is_413(registry_factory):
    server = registry_factory(["--inline-max", str(THRESHOLD), "--max-blob-size", "1000"])
    data = b"z" * 1001
    r = requests.post(f"{server.url}/v2/small/max/blobs/uploads/",
                      params={"digest": digest_of(data)}, data=data, timeout=TIMEOUT)
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "SIZE_INVALID", r.text
    r = requests.post(f"{server.url}/v2/small/max/blobs/uploads/", timeout=TIMEOUT)
    r = put_whole(server.url, location(server.url, r), data)
    assert r.status_code == 413, r.text
    assert spools(server) == [], spools(server)


def test_a_session_without_bytes_is_known_after_a_restart(registry_factory):
    """It has no file: its signed id says the server issued it. A finished one is unknown to
    the process that finished it; an id nobody issued, or used through another repository, is
    unknown too."""
    server = registry_factory(["--inline-max", str(THRESHOLD)])
    r = requests.post(f"{server.url}/v2/small/restart/blobs/uploads/", timeout=TIMEOUT)
    loc = location(server.url, r)
    done = location(server.url, requests.post(f"{server.url}/v2/small/restart/blobs/uploads/",
                                              timeout=TIMEOUT))
    assert put_whole(server.url, done, b"finished").status_code == 201
    assert requests.get(done, timeout=TIMEOUT).status_code == 404, "a finished session"
    server.kill()
    server.start()
    st = requests.get(loc, timeout=TIMEOUT)
    assert st.status_code == 204 and st.headers.get("Range") == "0-0", \
        f"the empty session after a restart: {st.status_code} {st.text}"
    other = loc.replace("/small/restart/", "/small/other/")
    assert requests.get(other, timeout=TIMEOUT).status_code == 404, "through another repository"
    forged = loc.rsplit("/", 1)[0] + "/" + "0" * 8 + loc.rsplit("/", 1)[1].split("?")[0][8:]
    assert requests.get(forged, timeout=TIMEOUT).status_code == 404, "an id nobody issued"
    data = os.urandom(2000)
    r = put_whole(server.url, loc, data)
    assert r.status_code == 201, r.text
    got = requests.get(f"{server.url}/v2/small/restart/blobs/{digest_of(data)}", timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == data
    assert requests.get(loc, timeout=TIMEOUT).status_code == 404, "finished after the restart"


def test_an_empty_unnamed_spool_left_by_a_crash_does_not_block_its_session(registry_factory):
    """SIGKILL between creating a session's spool and naming its repository leaves an empty
    file with no repository: the session, known by its signed id, takes that file over on its
    first byte. A leftover with bytes in it is never written over."""
    server = registry_factory(["--inline-max", str(THRESHOLD)])
    locs = [location(server.url, requests.post(f"{server.url}/v2/small/crash/blobs/uploads/",
                                               timeout=TIMEOUT)) for _ in range(2)]
    server.kill()
    paths = [os.path.join(str(server.data), "uploads", loc.rsplit("/", 1)[1].split("?")[0])
             for loc in locs]
    open(paths[0], "wb").close()
    with open(paths[1], "wb") as f:
        f.write(b"bytes of unknown origin")
    server.start()
    data = os.urandom(THRESHOLD * 2)
    headers = {"Content-Type": "application/octet-stream"}
    r = requests.patch(locs[0], data=data[:THRESHOLD], timeout=TIMEOUT,
                       headers={**headers, "Content-Range": f"0-{THRESHOLD - 1}"})
    assert r.status_code == 202, f"PATCH onto the empty leftover: {r.status_code} {r.text}"
    loc = location(server.url, r)
    sep = "&" if "?" in loc else "?"
    r = requests.put(f"{loc}{sep}digest={digest_of(data)}", data=data[THRESHOLD:],
                     timeout=TIMEOUT, headers=headers)
    assert r.status_code == 201, r.text
    got = requests.get(f"{server.url}/v2/small/crash/blobs/{digest_of(data)}", timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == data
    r = requests.patch(locs[1], data=b"x", timeout=TIMEOUT,
                       headers={**headers, "Content-Range": "0-0"})
    assert r.status_code >= 400, f"a PATCH wrote onto a leftover with bytes: {r.status_code}"
    with open(paths[1], "rb") as f:
        assert f.read() == b"bytes of unknown origin", "a leftover with bytes was changed"
    server.stop()


def start_partial_put(server, data_len, first):
    """A PUT of a whole blob of data_len bytes on a new session, of which only `first` is sent."""
    import socket
    host, port = server.url.split("://", 1)[1].split(":")
    r = requests.post(f"{server.url}/v2/small/limit/blobs/uploads/", timeout=TIMEOUT)
    path = r.headers["Location"]
    sep = "&" if "?" in path else "?"
    c = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    c.sendall((f"PUT {path}{sep}digest={digest_of(first)} HTTP/1.1\r\nHost: {host}\r\n"
               f"Content-Type: application/octet-stream\r\nContent-Length: {data_len}\r\n\r\n"
               ).encode() + first)
    return c


def wait_for_spools(server, count, seconds):
    import time
    deadline = time.monotonic() + seconds
    while len(spools(server)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(spools(server))


def test_memory_bodies_past_their_limit_stream_into_spools(registry_factory):
    """UPLOAD_MEMORY_BODIES_MAX (64 MiB): 70 PUTs of 1 MiB whole blobs (the largest
    --inline-max) in flight at once keep 64 in memory; the other 6 stream into spools. Once
    they are abandoned, their memory is free again for the next small PUT."""
    import time
    server = registry_factory(["--inline-max", str(1 << 20)])
    mib = 1 << 20
    socks = []
    try:
        for i in range(70):
            socks.append(start_partial_put(server, mib, bytes([i]) * 1000))
        wait_for_spools(server, 7, 1.0)  # a seventh would show up by then
        assert len(spools(server)) == 6, \
            f"expected the 6 bodies past 64 MiB in spools, found {len(spools(server))}"
    finally:
        for c in socks:
            c.close()
    held = set(spools(server))
    deadline = time.monotonic() + 20
    while True:
        c = start_partial_put(server, mib, b"q" * 1000)
        grew = wait_for_spools(server, len(held) + 1, 0.5) > len(held)
        c.close()
        if not grew or time.monotonic() > deadline:
            break
        held = set(spools(server))
    assert not grew, "the abandoned bodies still hold their memory"
