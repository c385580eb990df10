"""Streaming: a 2 GiB blob pushes (monolithic and in chunks) and pulls back bit-exact while the
server's peak resident memory (VmHWM) stays under 64 MiB."""
import hashlib
import os

import requests

GIB = 1 << 30
BLOCK = 1 << 20
HWM_LIMIT_KIB = 64 * 1024


def blocks(seed, total):
    """Deterministic, incompressible-enough content: one random MiB, varied per block."""
    base = hashlib.sha512(seed).digest() * (BLOCK // 64)
    for i in range(total // BLOCK):
        yield i.to_bytes(8, "little") + seed[:8].ljust(8, b"\0") + base[16:]


def digest_of(seed, total):
    h = hashlib.sha256()
    for b in blocks(seed, total):
        h.update(b)
    return "sha256:" + h.hexdigest()


def pull_digest(url):
    h = hashlib.sha256()
    size = 0
    with requests.get(url, stream=True, timeout=600) as r:
        assert r.status_code == 200, f"pull: expected 200, got {r.status_code}"
        for chunk in r.iter_content(BLOCK):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def test_2gib_blob_streams_with_bounded_memory(registry_factory):
    server = registry_factory(extra_args=["--access-log", "false"])
    base = f"{server.url}/v2/stream/big"

    mono = digest_of(b"monolithic", 2 * GIB)
    r = requests.post(f"{base}/blobs/uploads/?digest={mono}", data=blocks(b"monolithic", 2 * GIB),
                      timeout=600)
    assert r.status_code == 201, f"monolithic push: expected 201, got {r.status_code} {r.text}"

    chunked = digest_of(b"chunked", 2 * GIB)
    r = requests.post(f"{base}/blobs/uploads/", timeout=30)
    assert r.status_code == 202
    location = server.url + r.headers["Location"]
    chunk, offset, pending = 64 * BLOCK, 0, []
    gen = blocks(b"chunked", 2 * GIB)
    for block in gen:
        pending.append(block)
        if len(pending) * BLOCK == chunk:
            body = b"".join(pending)
            pending = []
            r = requests.patch(location, data=body, timeout=600, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(body) - 1}"})
            assert r.status_code == 202, f"PATCH at {offset}: got {r.status_code} {r.text}"
            offset += len(body)
            location = server.url + r.headers["Location"]
    r = requests.put(f"{location}?digest={chunked}", timeout=600)
    assert r.status_code == 201, f"chunked finish: expected 201, got {r.status_code} {r.text}"

    for dg in (mono, chunked):
        got, size = pull_digest(f"{base}/blobs/{dg}")
        assert (got, size) == (dg, 2 * GIB), f"pulled {got} ({size} bytes), expected {dg}"

    hwm = server.vm_hwm_kib()
    assert hwm < HWM_LIMIT_KIB, f"server peak RSS {hwm} KiB, expected under {HWM_LIMIT_KIB} KiB"
    blob_files = sum(len(files) for _, _, files in os.walk(os.path.join(server.data, "blobs")))
    assert blob_files == 2, f"expected exactly the 2 blob files on disk, found {blob_files}"
