"""Just-pushed blobs stay warm: uploads are written with O_DIRECT (no page-cache copy) where the
filesystem allows it, and once a blob is published its first UPLOAD_WARM_BYTES (64 MiB,
storage/blob/uploads_local.c) are read back into the page cache in the background
(storage/blob/warm.c), so the first pull right after a push reads memory; the bytes beyond stay
out of it. Residency is read with mincore(2) on the blob file, which does not fault pages in."""
import ctypes
import errno
import mmap
import os
import time

import pytest
import requests

from regutil import TIMEOUT, blob_path, digest_of

MIB = 1 << 20
UPLOAD_WARM_BYTES = 64 * MIB
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


def resident_soon(path, start, end, want=0.9, deadline=10.0):
    """The resident share of [start, end) once it reaches `want` (warming is in the
    background), or the last one seen when the deadline passes."""
    until = time.monotonic() + deadline
    while True:
        share = resident_fraction(path, start, end)
        if share >= want or time.monotonic() > until:
            return share
        time.sleep(0.05)


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
    share = resident_soon(path, 0, len(data))
    assert share >= 0.9, f"only {share:.0%} of a just-pushed 8 MiB blob is in the page cache"


def test_bytes_past_the_warm_limit_stay_out_of_the_page_cache(registry_factory):
    server = registry_factory()
    if not direct_io_works(str(server.data)):
        pytest.skip("the data folder's filesystem has no O_DIRECT: every write is cached")
    data = os.urandom(UPLOAD_WARM_BYTES + 32 * MIB + 123)
    path = blob_path(server.data, push(server.url, "warm/large", data))
    head = resident_soon(path, 0, UPLOAD_WARM_BYTES)
    # the last partial stage buffer goes through the page cache: look at whole MiBs before it
    tail = resident_fraction(path, UPLOAD_WARM_BYTES, UPLOAD_WARM_BYTES + 31 * MIB)
    assert head >= 0.9, f"only {head:.0%} of the first {UPLOAD_WARM_BYTES} bytes are cached"
    assert tail <= 0.25, f"{tail:.0%} of the bytes past {UPLOAD_WARM_BYTES} are cached: " \
                         "expected O_DIRECT writes"


def test_a_chunked_upload_is_written_cold_and_warmed_once_published(registry_factory):
    server = registry_factory()
    if not direct_io_works(str(server.data)):
        pytest.skip("the data folder's filesystem has no O_DIRECT: every write is cached")
    data = os.urandom(16 * MIB)
    r = requests.post(f"{server.url}/v2/warm/chunks/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, r.text
    session = r.headers["Location"].rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    loc = r.headers["Location"]
    for off in range(0, len(data), 8 * MIB):
        piece = data[off:off + 8 * MIB]
        r = requests.patch(loc if loc.startswith("http") else server.url + loc, data=piece,
                           headers={"Content-Range": f"{off}-{off + len(piece) - 1}",
                                    "Content-Type": "application/octet-stream"},
                           timeout=TIMEOUT)
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
    spool = os.path.join(str(server.data), "uploads", session)
    # the first MiB is written through the page cache; the rest with O_DIRECT, not cached yet
    cold = resident_fraction(spool, 2 * MIB, 15 * MIB)
    assert cold <= 0.25, f"{cold:.0%} of the upload is cached before it is published"
    d = digest_of(data)
    sep = "&" if "?" in loc else "?"
    r = requests.put(f"{loc if loc.startswith('http') else server.url + loc}{sep}digest={d}",
                     timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    warm = resident_soon(blob_path(server.data, d), 0, len(data))
    assert warm >= 0.9, f"only {warm:.0%} of the published blob was read back into the cache"
