"""Chunked uploads through the write-behind stage (storage/blob/stage.c): sessions that pause between
PATCHes for longer than the stage's idle trim (200 ms), PATCHes that end inside and on the edges
of its 1 MiB buffers, and more sessions at once than the server keeps stages for between
requests (16). Every blob must come back bit-exact, with the offsets the server reported. A
session names its repository in an extended attribute of its spool, found again after a restart."""
import os
import threading
import time

import requests

from regutil import TIMEOUT, digest_of, location

MIB = 1 << 20


def chunked_upload(url, repo, data, cuts, pause=0.0):
    """PATCH data in pieces ending at `cuts`, pausing between them; then PUT with the digest.
    Returns a list of problems (empty when the blob pulls back bit-exact)."""
    problems = []
    with requests.Session() as s:
        r = s.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
        if r.status_code != 202:
            return [f"POST: {r.status_code} {r.text}"]
        loc, start = location(url, r), 0
        for end in list(cuts) + [len(data)]:
            if end <= start:
                continue
            r = s.patch(loc, data=data[start:end], timeout=TIMEOUT, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{end - 1}"})
            if r.status_code != 202 or r.headers.get("Range") != f"0-{end - 1}":
                return [f"PATCH {start}-{end - 1}: {r.status_code} Range "
                        f"{r.headers.get('Range')} {r.text}"]
            loc, start = location(url, r), end
            time.sleep(pause)
        sep = "&" if "?" in loc else "?"
        r = s.put(f"{loc}{sep}digest={digest_of(data)}", timeout=TIMEOUT)
        if r.status_code != 201:
            return [f"PUT: {r.status_code} {r.text}"]
        got = s.get(f"{url}/v2/{repo}/blobs/{digest_of(data)}", timeout=TIMEOUT)
        if got.status_code != 200 or got.content != data:
            problems.append(f"GET: {got.status_code}, {len(got.content)} of {len(data)} bytes, "
                            f"{'same' if got.content == data else 'different'} content")
    return problems


def test_pauses_longer_than_the_idle_trim_keep_every_byte(registry):
    data = os.urandom(5 * MIB + 12345)
    cuts = [1000, MIB, MIB + 1, 3 * MIB - 7, 4 * MIB]   # inside and on the buffer edges
    problems = chunked_upload(registry.url, "sessions/paused", data, cuts, pause=0.3)
    assert not problems, "; ".join(problems)


def test_more_sessions_than_the_stages_kept_between_requests(registry):
    blobs = [os.urandom(3 * MIB + i * 4099) for i in range(24)]
    results = [None] * len(blobs)

    def upload(i):
        cuts = [MIB // 2 + i, 2 * MIB + 3 * i]
        try:
            results[i] = chunked_upload(registry.url, f"sessions/many{i % 3}", blobs[i], cuts,
                                        pause=0.05)
        except Exception as e:  # a thread's exception is lost unless kept as its result
            results[i] = [f"{type(e).__name__}: {e}"]

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(blobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "an upload did not finish within 120 s"
    failed = {i: p for i, p in enumerate(results) if p != []}  # None: never finished
    assert not failed, f"{len(failed)} of {len(blobs)} uploads went wrong: {failed}"


def user_xattrs_work(folder):
    path = os.path.join(folder, ".xattr-probe")
    try:
        with open(path, "w"):
            pass
        os.setxattr(path, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_a_session_keeps_its_repository_in_the_spool_across_a_restart(registry_factory):
    """The session's repository is an extended attribute of its spool (no `.repo` sidecar file
    where the filesystem takes user attributes); a restarted server finds the session by it,
    and the published blob file sheds it once the session is over (as root; the file is
    read-only by then)."""
    from regutil import blob_path
    server = registry_factory()
    data = os.urandom(3 * MIB + 17)
    r = requests.post(f"{server.url}/v2/keep/repo/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, r.text
    loc = location(server.url, r)
    r = requests.patch(loc, data=data[:MIB], timeout=TIMEOUT, headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{MIB - 1}"})
    assert r.status_code == 202, r.text
    loc = location(server.url, r)
    uploads = os.path.join(str(server.data), "uploads")
    spools = [n for n in os.listdir(uploads) if not n.startswith(".")]
    if user_xattrs_work(uploads):
        assert len(spools) == 1, f"a sidecar file was written too: {spools}"
        assert os.getxattr(os.path.join(uploads, spools[0]), "user.ocireg.repo") == b"keep/repo"
    else:
        assert sorted(n.endswith(".repo") for n in spools) == [False, True], spools
    server.restart()
    r = requests.patch(loc, data=data[MIB:], timeout=TIMEOUT, headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"{MIB}-{len(data) - 1}"})
    assert r.status_code == 202, r.text
    loc = location(server.url, r)
    sep = "&" if "?" in loc else "?"
    r = requests.put(f"{loc}{sep}digest={digest_of(data)}", timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    got = requests.get(f"{server.url}/v2/keep/repo/blobs/{digest_of(data)}", timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == data
    if os.geteuid() == 0:  # others may not change the read-only blob file: it keeps the name
        assert "user.ocireg.repo" not in os.listxattr(blob_path(server.data, digest_of(data)))
    # a session of another repository is not found through this one
    r = requests.post(f"{server.url}/v2/keep/repo/blobs/uploads/", timeout=TIMEOUT)
    other = location(server.url, r).replace("/keep/repo/", "/keep/other/")
    server.restart()
    assert requests.get(other, timeout=TIMEOUT).status_code == 404
