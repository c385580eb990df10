"""Just-pushed blobs stay warm: the first UPLOAD_CACHED_BYTES (64 MiB, storage/blob/uploads_local.c)
of an upload are written through the page cache, so the first pull right after a push reads
memory (its first UPLOAD_PLAIN_BYTES by the request's thread, the rest by a stage that hashes on
its own thread); the bytes beyond are written with O_DIRECT (no page-cache copy) where the
filesystem allows it. A pull of a large range that is not all in the page cache has a thread
read it in ahead of sendfile (storage/blob/readahead.c, counted in ocireg_blob_readaheads_total).
Residency is read with mincore(2) on the blob file, which does not fault pages in."""
import ctypes
import errno
import mmap
import os
import time

import pytest
import requests

from regutil import TIMEOUT, blob_path, digest_of

MIB = 1 << 20
UPLOAD_CACHED_BYTES = 64 * MIB
UPLOAD_PLAIN_BYTES = 1 * MIB
READAHEAD_MIN_BYTES = 16 * MIB
READAHEAD_MAX_BYTES = 1 << 30
PAGE = mmap.PAGESIZE

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident_fraction(path, start, end):
    """The share of the file's pages in [start, end) that are in the page cache."""
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        pages = (size + PAGE - 1) // PAGE
        vec = ctypes.create_string_buffer(pages)
        try:
            assert libc.mincore(addr, size, vec) == 0, os.strerror(ctypes.get_errno())
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    first, last = start // PAGE, (end + PAGE - 1) // PAGE
    return sum(vec.raw[i] & 1 for i in range(first, last)) / (last - first)


def direct_io_works(folder):
    """Whether the filesystem of `folder` takes O_DIRECT (tmpfs does not)."""
    path = os.path.join(folder, "direct-probe")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600))
        return True
    except OSError as e:
        if e.errno == errno.EINVAL:
            return False
        raise
    finally:
        if os.path.exists(path):
            os.unlink(path)


def push(url, repo, data):
    d = digest_of(data)
    r = requests.post(f"{url}/v2/{repo}/blobs/uploads/?digest={d}", data=data, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return d


def test_just_pushed_blob_is_in_the_page_cache(registry_factory):
    server = registry_factory()
    data = os.urandom(8 * MIB)
    path = blob_path(server.data, push(server.url, "warm/small", data))
    share = resident_fraction(path, 0, len(data))
    assert share >= 0.9, f"only {share:.0%} of a just-pushed 8 MiB blob is in the page cache"


def test_bytes_past_the_cached_limit_bypass_the_page_cache(registry_factory):
    server = registry_factory()
    if not direct_io_works(str(server.data)):
        pytest.skip("the data folder's filesystem has no O_DIRECT: every write is cached")
    data = os.urandom(UPLOAD_CACHED_BYTES + 32 * MIB + 123)
    path = blob_path(server.data, push(server.url, "warm/large", data))
    head = resident_fraction(path, 0, UPLOAD_CACHED_BYTES)
    # the last partial stage buffer goes through the page cache: look at whole MiBs before it
    tail = resident_fraction(path, UPLOAD_CACHED_BYTES, UPLOAD_CACHED_BYTES + 31 * MIB)
    assert head >= 0.9, f"only {head:.0%} of the first {UPLOAD_CACHED_BYTES} bytes are cached"
    assert tail <= 0.25, f"{tail:.0%} of the bytes past {UPLOAD_CACHED_BYTES} are cached: " \
                         "expected O_DIRECT writes"


def test_chunks_across_the_plain_and_cached_limits_keep_every_byte(registry_factory):
    """PATCHes whose edges miss both limits: one crosses the end of the plain first MiB, one
    the end of the cached head (where the page-cache stage ends and the O_DIRECT one begins);
    the digest and the bytes served must be the upload's."""
    server = registry_factory()
    data = os.urandom(UPLOAD_CACHED_BYTES + 3 * MIB + 77)
    edges = [700_001, UPLOAD_PLAIN_BYTES + 4_321, 9 * MIB + 5, UPLOAD_CACHED_BYTES - 12_345,
             UPLOAD_CACHED_BYTES + 2 * MIB + 1, len(data)]
    r = requests.post(f"{server.url}/v2/warm/chunks/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, r.text
    loc, start = r.headers["Location"], 0
    for end in edges:
        r = requests.patch(server.url + loc if loc.startswith("/") else loc,
                           data=data[start:end], timeout=TIMEOUT,
                           headers={"Content-Type": "application/octet-stream",
                                    "Content-Range": f"{start}-{end - 1}"})
        assert r.status_code == 202, (end, r.status_code, r.text)
        loc, start = r.headers["Location"], end
    d = digest_of(data)
    sep = "&" if "?" in loc else "?"
    r = requests.put(f"{server.url + loc if loc.startswith('/') else loc}{sep}digest={d}",
                     timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    head = resident_fraction(blob_path(server.data, d), 0, UPLOAD_CACHED_BYTES)
    assert head >= 0.9, f"only {head:.0%} of the chunked upload's head is cached"
    r = requests.get(f"{server.url}/v2/warm/chunks/blobs/{d}", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == data


def readaheads(url):
    text = requests.get(f"{url}/metrics", timeout=TIMEOUT).text
    line = next(l for l in text.splitlines() if l.startswith("ocireg_blob_readaheads_total "))
    return int(line.split()[1])


def evict(path):
    """Drop the blob file's pages from the page cache; False where the filesystem keeps them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident_fraction(path, 0, os.path.getsize(path)) < 0.5


def get(url, repo, d, headers=None):
    r = requests.get(f"{url}/v2/{repo}/blobs/{d}", headers=headers or {}, timeout=TIMEOUT)
    assert r.status_code == (206 if headers else 200), r.text
    return r.content


def test_a_cold_large_blob_is_read_ahead_and_then_served_warm(registry_factory):
    """The pull right after a push of a blob past the cached head: the bytes are right, a
    readahead ran, and the blob is in the page cache afterwards, so the next pull starts none."""
    server = registry_factory()
    if not direct_io_works(str(server.data)):
        pytest.skip("the data folder's filesystem has no O_DIRECT: every write is cached")
    data = os.urandom(UPLOAD_CACHED_BYTES + 24 * MIB + 4_097)
    d = push(server.url, "warm/cold", data)
    before = readaheads(server.url)
    assert get(server.url, "warm/cold", d) == data
    assert readaheads(server.url) == before + 1
    path = blob_path(server.data, d)
    share = resident_fraction(path, 0, len(data))
    assert share >= 0.9, f"only {share:.0%} of the blob is cached after its first pull"
    assert get(server.url, "warm/cold", d) == data
    assert readaheads(server.url) == before + 1, "a warm blob was read ahead again"


def test_cold_ranges_are_read_ahead_only_when_large(registry_factory):
    """Ranges of an evicted blob: one of READAHEAD_MIN_BYTES or more starting mid-page and
    running to the end is read ahead and served exactly; a shorter one is left to sendfile."""
    server = registry_factory()
    data = os.urandom(READAHEAD_MIN_BYTES * 2 + 555)
    d = push(server.url, "warm/ranges", data)
    if not evict(blob_path(server.data, d)):
        pytest.skip("the data folder's filesystem keeps its pages in memory")
    before = readaheads(server.url)
    small = get(server.url, "warm/ranges", d, {"Range": f"bytes=1000-{READAHEAD_MIN_BYTES - 2}"})
    assert small == data[1000:READAHEAD_MIN_BYTES - 1]
    assert readaheads(server.url) == before
    start = len(data) - READAHEAD_MIN_BYTES - 3_333
    tail = get(server.url, "warm/ranges", d, {"Range": f"bytes={start}-"})
    assert tail == data[start:]
    assert readaheads(server.url) == before + 1



def test_a_readahead_stops_at_its_limit_when_the_client_hangs_up(registry_factory):
    """A client that asks for a whole cold blob larger than READAHEAD_MAX_BYTES and hangs up
    after one read makes the disk read that limit at most, not the whole blob."""
    server = registry_factory()
    block = os.urandom(MIB)
    data = block * (READAHEAD_MAX_BYTES // MIB + 64)
    d = push(server.url, "warm/huge", data)
    del data
    path = blob_path(server.data, d)
    if not evict(path):
        pytest.skip("the data folder's filesystem keeps its pages in memory")
    try:
        before = readaheads(server.url)
        with requests.get(f"{server.url}/v2/warm/huge/blobs/{d}", stream=True,
                          timeout=TIMEOUT) as r:
            assert r.status_code == 200
            assert next(r.iter_content(64 * 1024)) == block[:64 * 1024]
        assert readaheads(server.url) == before + 1
        deadline = time.monotonic() + 30
        while resident_fraction(path, READAHEAD_MAX_BYTES - 64 * MIB, READAHEAD_MAX_BYTES) < 0.9:
            assert time.monotonic() < deadline, "the readahead did not reach its limit in 30 s"
            time.sleep(0.2)
        past = resident_fraction(path, READAHEAD_MAX_BYTES + 32 * MIB,
                                 READAHEAD_MAX_BYTES + 64 * MIB)
        assert past < 0.25, f"{past:.0%} of the bytes past READAHEAD_MAX_BYTES were read ahead"
    finally:
        os.unlink(path)  # 1 GiB: not left in pytest's kept temporary folders
