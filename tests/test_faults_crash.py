"""Crash faults: SIGKILL the server while clients push and delete, restart it on the same data
folder, and check that nothing acknowledged was lost (fsck healthy but for orphan files, every
image whose manifest PUT got 201 pulls back bit-exact, every acknowledged delete stays done,
interrupted upload sessions resume). Also: SIGTERM lets an in-flight upload finish.

OCIREG_CRASH_ROUNDS sets the number of kill rounds (default 100); OCIREG_CRASH_SEED the seed."""
import hashlib
import json
import os
import random
import socket
import subprocess
import threading
import time
from contextlib import closing

import pytest
import requests

from faultutil import (Pushed, blob_problem, digest_of, error_code, fsck, fsck_failures,
                       image_manifest, image_problems, log_diagnostics, log_tail, push_chunked,
                       push_monolithic, resume_upload, TIMEOUT)
from ocireg_harness import RegistryServer, ocireg_binary
from regutil import db

ROUNDS = int(os.environ.get("OCIREG_CRASH_ROUNDS", "100"))
SEED = int(os.environ.get("OCIREG_CRASH_SEED", str(int(time.time()))))
CLIENTS = 4
MAX_OPS_PER_CLIENT = 60          # per round; the kill comes long before
KILL_AFTER_MS = (20, 400)
GC_EVERY = 4                     # rounds r with r % GC_EVERY == GC_EVERY - 1 run gc meanwhile
OLD_SAMPLE = 12                  # earlier images re-pulled each round (all at the end)
BUDGET_SECONDS = float(os.environ.get("OCIREG_CRASH_BUDGET", "420"))
SHARED = [hashlib.sha512(b"shared layer %d" % i).digest() * 300 for i in range(3)]


class RoundState:
    """What the clients of one round were told by the server."""

    def __init__(self, url, round_no, rng_seed, gc_round):
        self.url = url
        self.gc_round = gc_round
        self.round = round_no
        self.seed = rng_seed
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked = []                 # Pushed
        self.uploads = {}               # slot -> session state of an unfinished chunked upload
        self.server_errors = []         # 5xx answers while the server was alive
        self.unexpected = []            # answers that are wrong outright
        self.statuses = {}
        self.deletes = 0


def count(state, key):
    with state.lock:
        state.statuses[key] = state.statuses.get(key, 0) + 1


def note_response(state, what, r, expected):
    if r.status_code in expected:
        return True
    key = f"{what} {r.status_code} {error_code(r)}"
    count(state, key)
    if r.status_code >= 500:
        with state.lock:
            state.server_errors.append(f"{what}: {r.status_code} {r.text[:200]}")
    elif not (state.gc_round and key == "manifest PUT 400 MANIFEST_BLOB_UNKNOWN"):
        # The only refusal allowed: gc --grace 0 took a blob pushed just before the manifest.
        with state.lock:
            state.unexpected.append(f"{what}: {r.status_code} {r.text[:200]}")
    return False


def make_layer(rng):
    roll = rng.random()
    if roll < 0.08:
        return rng.randbytes(rng.randint(1 << 20, 4 << 20))
    if roll < 0.15:
        return SHARED[rng.randrange(len(SHARED))]
    return rng.randbytes(rng.randint(1, 48 << 10))


def push_one(state, s, rng, slot, i):
    repo = f"crash/c{slot}"
    tag = f"r{state.round}-c{slot}-i{i}"
    config = json.dumps({"architecture": "amd64", "os": "linux", "round": state.round,
                         "client": slot, "image": i, "nonce": rng.random()}).encode()
    layers = []
    for _ in range(rng.randint(1, 3)):
        layer = make_layer(rng)
        if layer not in layers:
            layers.append(layer)
    for n, data in enumerate([config] + layers):
        if n > 0 and len(data) > 1 and rng.random() < 0.3:
            def progress(st, slot=slot):
                with state.lock:
                    state.uploads[slot] = dict(st)
            r = push_chunked(s, state.url, repo, data, rng.randint(2, 4), progress)
            if r.status_code == 201:
                with state.lock:
                    state.uploads.pop(slot, None)
        else:
            r = push_monolithic(s, state.url, repo, data)
        if not note_response(state, "blob push", r, (201,)):
            return None
        if r.headers.get("Docker-Content-Digest") != digest_of(data):
            with state.lock:
                state.unexpected.append(f"blob push 201 with Docker-Content-Digest "
                                        f"{r.headers.get('Docker-Content-Digest')}, expected "
                                        f"{digest_of(data)}")
    manifest = image_manifest(config, layers)
    r = s.put(f"{state.url}/v2/{repo}/manifests/{tag}", data=manifest,
              headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
              timeout=TIMEOUT)
    if not note_response(state, "manifest PUT", r, (201,)):
        return None
    img = Pushed(repo, tag, manifest, {digest_of(x): len(x) for x in [config] + layers},
                 origin=f"round {state.round} client {slot} image {i}")
    if r.headers.get("Docker-Content-Digest") != img.digest:
        with state.lock:
            state.unexpected.append(f"manifest PUT {repo}:{tag} 201 with Docker-Content-Digest "
                                    f"{r.headers.get('Docker-Content-Digest')}, expected "
                                    f"{img.digest}")
    with state.lock:
        state.acked.append(img)
    return img


def delete_one(state, s, rng, own):
    candidates = [img for img in own if not (img.deleted or img.ambiguous)]
    if not candidates:
        return
    img = rng.choice(candidates)
    by_tag = not img.tag_deleted and rng.random() < 0.5
    ref = img.tag if by_tag else img.digest
    try:
        r = s.delete(f"{state.url}/v2/{img.repo}/manifests/{ref}", timeout=TIMEOUT)
    except requests.RequestException:
        img.ambiguous = True
        raise
    if r.status_code == 202:
        if by_tag:
            img.tag_deleted = True
        else:
            img.deleted = True
        with state.lock:
            state.deletes += 1
    else:
        note_response(state, f"DELETE {'tag' if by_tag else 'manifest'} of {img}", r, (202,))


def client(state, slot, own):
    rng = random.Random(state.seed * 100 + slot)
    s = requests.Session()
    try:
        for i in range(MAX_OPS_PER_CLIENT):
            if state.stop.is_set():
                break
            if own and rng.random() < 0.2:
                delete_one(state, s, rng, own)
            else:
                img = push_one(state, s, rng, slot, i)
                if img:
                    own.append(img)
    except requests.RequestException:
        pass  # the server was killed under this request
    finally:
        s.close()


def gc_loop(data, state, runs):
    for _ in range(20):
        if state.stop.is_set():
            break
        proc = subprocess.run([ocireg_binary(), "gc", "--grace", "0", "--json", "--data",
                               str(data)], capture_output=True, text=True, timeout=60)
        runs.append((proc.returncode, proc.stderr.strip()[-500:]))


def failure(round_no, what, srv, fsck_text=None):
    if fsck_text is None:
        rc, _, out, err = fsck(srv.data)
        fsck_text = f"exit {rc}: {out[:3000]} {err[:500]}"
    return AssertionError(f"round {round_no} (seed {SEED}, OCIREG_CRASH_SEED reproduces the "
                          f"choices, not the timing): {what}\nfsck: {fsck_text}\n"
                          f"server diagnostics:\n{log_diagnostics(srv)}\n"
                          f"server log tail:\n{log_tail(srv)}")


def test_sigkill_during_pushes_loses_nothing(tmp_path):
    data = tmp_path / "data"
    srv = RegistryServer(data)
    srv.start()
    rng = random.Random(SEED)
    started = time.monotonic()
    everything = []                      # every Pushed image of every round
    own = [[] for _ in range(CLIENTS)]   # per client: its images (it deletes only its own)
    stats = {"acked": 0, "deletes": 0, "resumed": 0, "committed-session": 0,
             "placed-session": 0, "lost-session": 0, "gc-runs": 0,
             "kill-ms": [], "statuses": {}}
    try:
        for round_no in range(ROUNDS):
            if time.monotonic() - started > BUDGET_SECONDS:
                pytest.fail(f"only {round_no} of {ROUNDS} rounds fit in {BUDGET_SECONDS} s")
            gc_round = round_no % GC_EVERY == GC_EVERY - 1
            state = RoundState(srv.url, round_no, rng.randrange(1 << 30), gc_round)
            threads = [threading.Thread(target=client, args=(state, k, own[k]))
                       for k in range(CLIENTS)]
            gc_runs = []
            if gc_round:
                threads.append(threading.Thread(target=gc_loop, args=(data, state, gc_runs)))
            kill_ms = rng.randint(*KILL_AFTER_MS)
            stats["kill-ms"].append(kill_ms)
            for t in threads:
                t.start()
            time.sleep(kill_ms / 1000)
            srv.kill()
            state.stop.set()
            for t in threads:
                t.join(60)
            assert not any(t.is_alive() for t in threads), \
                f"round {round_no}: client or gc threads did not finish"

            stats["acked"] += len(state.acked)
            stats["deletes"] += state.deletes
            stats["gc-runs"] += len(gc_runs)
            for k, v in state.statuses.items():
                stats["statuses"][k] = stats["statuses"].get(k, 0) + v
            everything.extend(state.acked)
            if state.server_errors or state.unexpected:
                raise failure(round_no, f"wrong answers while the server was up: "
                              f"{(state.server_errors + state.unexpected)[:5]}", srv)
            bad_gc = [g for g in gc_runs if g[0] != 0]
            if bad_gc:
                raise failure(round_no, f"ocireg gc --grace 0 failed during pushes: {bad_gc}",
                              srv)

            srv.start()
            problems = fsck_failures(data)
            if problems:
                raise failure(round_no, "fsck after the restart is not healthy", srv,
                              problems[0])

            this_round = set(map(id, state.acked))
            older = [img for img in everything if id(img) not in this_round]
            check = list(state.acked) + rng.sample(older, min(OLD_SAMPLE, len(older)))
            check += [img for img in older
                      if img.ambiguous or img.deleted or img.tag_deleted][-8:]
            with requests.Session() as s:
                for img in check:
                    p = image_problems(s, srv.url, img)
                    if p:
                        raise failure(round_no, f"acknowledged image {img} does not pull back "
                                      f"as acknowledged: {p}", srv)
                for slot, up in sorted(state.uploads.items()):
                    outcome, detail = resume_upload(s, srv.url, up)
                    if outcome == "failed":
                        raise failure(round_no, f"resuming the interrupted upload "
                                      f"{up['location']} ({up['acked']} of {len(up['data'])} "
                                      f"bytes acknowledged): {detail}", srv)
                    if outcome == "unknown":
                        # The session is gone: fine when its PUT committed the blob before
                        # the kill (the 201 was lost), else the session was lost. Either way a
                        # restarted upload must work.
                        head = s.head(f"{srv.url}/v2/{up['repo']}/blobs/"
                                      f"{digest_of(up['data'])}", timeout=TIMEOUT)
                        hexpart = digest_of(up["data"]).split(":", 1)[1]
                        placed = os.path.exists(os.path.join(
                            str(data), "blobs", "sha256", hexpart[:2], hexpart))
                        kind = "committed-session" if head.status_code == 200 else \
                            "placed-session" if placed else "lost-session"
                        stats[kind] += 1
                        if kind == "lost-session" and not gc_runs:
                            # No gc ran that could have taken a committed blob: the PATCHed
                            # bytes the server acknowledged are gone.
                            raise failure(round_no, f"the upload session {up['location']} "
                                          f"({up['acked']} of {len(up['data'])} bytes "
                                          f"acknowledged) is unknown after the restart "
                                          f"({detail}), and its blob was neither committed nor "
                                          f"linked into blobs/", srv)
                        r = push_monolithic(s, srv.url, up["repo"], up["data"])
                        if r.status_code != 201:
                            raise failure(round_no, f"restarting the upload after {detail}: "
                                          f"expected 201, got {r.status_code} {r.text}", srv)
                    else:
                        stats["resumed"] += 1
                    p = blob_problem(s, srv.url, up["repo"], digest_of(up["data"]),
                                     len(up["data"]))
                    if p:
                        raise failure(round_no, f"the resumed upload does not pull: {p}", srv)

        with requests.Session() as s:
            for img in everything:
                p = image_problems(s, srv.url, img)
                if p:
                    raise failure(ROUNDS, f"final check: acknowledged image {img}: {p}", srv)
        problems = fsck_failures(data)
        if problems:
            raise failure(ROUNDS, "final fsck is not healthy", srv, problems[0])
        # Inlining is on (the default): small blobs and manifests were committed into the index.
        with closing(db(data)) as conn:
            stats["held"] = conn.execute("SELECT count(*) FROM blob_data").fetchone()[0]
    finally:
        srv.stop()
    elapsed = time.monotonic() - started
    print(f"\ncrash test: {ROUNDS} rounds in {elapsed:.1f} s (seed {SEED}); "
          f"{stats['acked']} images acknowledged, {stats['deletes']} deletes acknowledged, "
          f"{stats['gc-runs']} concurrent gc runs, interrupted uploads resumed "
          f"{stats['resumed']}, already committed {stats['committed-session']}, killed while "
          f"committing (spool linked into blobs/, row not committed) {stats['placed-session']}, "
          f"gone in gc rounds (committed then collected) {stats['lost-session']}; "
          f"refusals {stats['statuses']}")
    assert stats["held"] > 0, "no blob was held in the index: the test ran without inlining"
    assert stats["acked"] >= ROUNDS, \
        f"too little was pushed to mean anything: {stats['acked']} images in {ROUNDS} rounds"


def terminate_and_check_exit(srv, situation):
    """SIGTERM the server: it must exit with 0 within 15 s."""
    term_at = time.monotonic()
    srv.proc.terminate()
    try:
        rc = srv.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    exit_seconds = time.monotonic() - term_at
    print(f"\nSIGTERM {situation}: exit {rc} after {exit_seconds:.1f} s")
    assert rc is not None and exit_seconds <= 15, \
        f"the server did not exit within 15 s of SIGTERM\n{log_tail(srv)}"
    assert rc == 0, f"exit code after SIGTERM: expected 0, got {rc}\n{log_tail(srv)}"


def test_sigterm_finishes_in_flight_requests(tmp_path):
    """A 48 MiB monolithic upload is streamed slowly; SIGTERM arrives in the middle. The upload
    must finish with 201 (the server waits for in-flight requests), the server must exit with 0
    within 15 s, and the blob must be there after a restart."""
    srv = RegistryServer(tmp_path / "data").start()
    total, block = 48 << 20, 1 << 20
    seed = hashlib.sha512(b"sigterm").digest() * (block // 64)
    blocks = [i.to_bytes(8, "little") + seed[8:] for i in range(total // block)]
    digest = digest_of(b"".join(blocks))
    sent = threading.Event()
    result = {}

    def body():
        for i, b in enumerate(blocks):
            if i == 8:
                sent.set()
            time.sleep(0.05)            # ~2.4 s for the whole body
            yield b

    def upload():
        try:
            result["r"] = requests.post(f"{srv.url}/v2/term/big/blobs/uploads/",
                                        params={"digest": digest}, data=body(), timeout=60)
        except requests.RequestException as e:
            result["error"] = repr(e)

    t = threading.Thread(target=upload)
    try:
        t.start()
        assert sent.wait(20), "the upload did not get going"
        terminate_and_check_exit(srv, "during a 48 MiB upload")
        t.join(60)
        assert "r" in result, \
            f"the in-flight upload got no answer: {result.get('error')}\n{log_tail(srv)}"
        r = result["r"]
        assert r.status_code == 201, \
            f"the in-flight upload: expected 201, got {r.status_code} {r.text}\n{log_tail(srv)}"
        srv.start()
        with requests.Session() as s:
            p = blob_problem(s, srv.url, "term/big", digest, total)
        assert p is None, f"after the restart: {p}"
        assert not fsck_failures(srv.data, allowed=())
    finally:
        srv.stop()
        t.join(60)


def test_sigterm_with_a_stalled_upload_exits_within_15s(tmp_path):
    """A PATCH whose client stops sending mid-body cannot hold the server up: after SIGTERM it
    exits with 0 within ~15 s, and after a restart the data folder is healthy and the session
    can be resumed from what it holds."""
    srv = RegistryServer(tmp_path / "data").start()
    data = os.urandom(2 << 20)
    r = requests.post(f"{srv.url}/v2/term/stalled/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202
    location = srv.url + r.headers["Location"]
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        sock.sendall(f"PATCH {r.headers['Location']} HTTP/1.1\r\nHost: {srv.host}\r\n"
                     f"Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:300000])
        time.sleep(0.5)
        terminate_and_check_exit(srv, "with a stalled PATCH")
    finally:
        sock.close()
    try:
        srv.start()
        problems = fsck_failures(srv.data, allowed=())
        assert not problems, problems[0]
        with requests.Session() as s:
            outcome, detail = resume_upload(s, srv.url, {"location": location, "acked": 0,
                                                         "data": data})
            assert outcome == "resumed", f"the stalled session after a restart: {detail}"
            p = blob_problem(s, srv.url, "term/stalled", digest_of(data), len(data))
        assert p is None, p
    finally:
        srv.stop()
