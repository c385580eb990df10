"""Several ocireg instances on one S3 bucket (Ceph radosgw) and one PostgreSQL index: every
instance serves every request. The conformance suite against each instance, a push to one and
a pull from another, one chunked upload spread over all three, an instance killed mid-push
whose client finishes on another, and gc from a fourth process while pushes run."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import requests

from ocireg_harness import ROOT, ScaleOutCluster, ocireg_binary
from tests.faultutil import (Pushed, digest_of, image_manifest, image_problems,
                             push_monolithic, OCI_MANIFEST)

def urls(cluster):
    """The fixture's instances (tests may start more)."""
    return [s.url for s in cluster.servers[:cluster.size]]


def test_conformance_suite_passes_against_each_instance(cluster):
    for server in cluster.servers[:cluster.size]:
        env = dict(os.environ, OCIREG_URL=server.url)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-x", os.path.join(ROOT, "conformance")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
        out = proc.stdout.strip().splitlines()
        summary = out[-1] if out else proc.stderr[-2000:]
        assert proc.returncode == 0, f"conformance against {server.url}: {summary}\n" \
                                     f"{proc.stdout[-4000:]}\n{server.log()}"
        print(f"conformance against {server.url}: {summary}")


def test_push_to_one_pull_from_the_others(cluster):
    a, b, c = urls(cluster)
    s = requests.Session()
    layer = os.urandom(3 << 20)
    config = b'{"architecture":"amd64","os":"linux"}'
    for blob in (layer, config):
        assert push_monolithic(s, a, "cross/app", blob).status_code == 201
    manifest = image_manifest(config, [layer])
    r = s.put(f"{a}/v2/cross/app/manifests/v1", data=manifest,
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    img = Pushed("cross/app", "v1", manifest, {digest_of(layer): len(layer),
                                                digest_of(config): len(config)})
    for url in (b, c):
        assert image_problems(s, url, img) == []
        r = s.get(f"{url}/v2/cross/app/blobs/{digest_of(layer)}",
                  headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and r.content == layer[1000:2000]
        assert s.get(f"{url}/v2/cross/app/tags/list").json()["tags"] == ["v1"]


def test_one_chunked_upload_spread_over_all_instances(cluster):
    servers = urls(cluster)
    s = requests.Session()
    data = os.urandom(23 << 20)
    # chunk sizes that straddle the 8 MiB part size in every way
    cuts = [0, 1 << 20, (1 << 20) + 7, 10 << 20, 17 << 20, 17 << 20 | 12345, 23 << 20]
    r = s.post(f"{servers[0]}/v2/spread/blob/blobs/uploads/")
    assert r.status_code == 202
    path = r.headers["Location"]
    for i in range(len(cuts) - 1):
        url = servers[(i + 1) % len(servers)]
        start, end = cuts[i], cuts[i + 1]
        status = s.get(url + path)
        assert status.status_code == 204
        assert status.headers["Range"] == (f"0-{start - 1}" if start else "0-0")
        r = s.patch(url + path, data=data[start:end], headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{end - 1}"})
        assert r.status_code == 202, (url, r.status_code, r.text)
        assert r.headers["Range"] == f"0-{end - 1}"
        path = r.headers["Location"]
    r = s.put(f"{servers[2]}{path}", params={"digest": digest_of(data)})
    assert r.status_code == 201, r.text
    for url in servers:
        got = s.get(f"{url}/v2/spread/blob/blobs/{digest_of(data)}")
        assert got.status_code == 200 and digest_of(got.content) == digest_of(data)


def test_instance_killed_mid_push_client_finishes_on_another(cluster):
    victim = cluster.start_instance()
    other = cluster.servers[0].url
    s = requests.Session()
    data = os.urandom(20 << 20)
    r = s.post(f"{victim.url}/v2/killed/app/blobs/uploads/")
    path = r.headers["Location"]
    r = s.patch(victim.url + path, data=data[:9 << 20], headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{(9 << 20) - 1}"})
    assert r.status_code == 202
    # The second PATCH is cut off by the kill: its bytes were never acknowledged.
    def doomed():
        try:
            s2 = requests.Session()
            s2.patch(victim.url + path, data=data[9 << 20:], timeout=30, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{9 << 20}-{len(data) - 1}"})
        except requests.RequestException:
            pass
    t = threading.Thread(target=doomed)
    t.start()
    time.sleep(0.3)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    t.join(30)
    # The client asks another instance where the session stands and goes on from there; the
    # dead holder's lease runs out after a few seconds.
    deadline = time.monotonic() + 20
    while True:
        st = s.get(other + path)
        assert st.status_code == 204
        acked = int(st.headers["Range"].split("-")[1]) + 1
        assert acked in (9 << 20, len(data)), acked
        r = s.patch(other + path, data=data[acked:], headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{acked}-{len(data) - 1}"}) if acked < len(data) else None
        if r is None or r.status_code == 202:
            break
        assert r.status_code == 409 and time.monotonic() < deadline, r.text
        time.sleep(0.5)
    r = s.put(other + (r.headers["Location"] if r is not None else path),
              params={"digest": digest_of(data)})
    assert r.status_code == 201, r.text
    got = s.get(f"{cluster.servers[1].url}/v2/killed/app/blobs/{digest_of(data)}")
    assert digest_of(got.content) == digest_of(data)


def gc_took_a_blob(r, blobs):
    """A manifest PUT refused because gc (grace 0) collected one of its blobs between the blob
    push and the PUT: 400 MANIFEST_BLOB_UNKNOWN naming one of this image's blobs. The only
    refusal the concurrent gc test expects."""
    if r.status_code != 400:
        return False
    try:
        errors = r.json().get("errors") or []
    except ValueError:
        return False
    digests = {digest_of(b) for b in blobs}
    return any(e.get("code") == "MANIFEST_BLOB_UNKNOWN"
               and (e.get("detail") or {}).get("digest") in digests for e in errors)


def test_gc_from_a_fourth_process_while_pushes_run(cluster):
    servers = urls(cluster)
    pushed, failures, raced, stop = [], [], [], threading.Event()
    shared = os.urandom(1 << 20)  # a layer every image shares, so gc sees it referenced

    def push_images(n):
        # Each pusher goes on until it has WANTED images in (an image whose blob gc took
        # first is pushed again under its next tag), bounded by ATTEMPTS and the stop flag.
        s = requests.Session()
        rnd = random.Random(n)
        i = done = 0
        while not stop.is_set() and i < ATTEMPTS and done < WANTED:
            url = servers[(n + i) % len(servers)]
            layer = os.urandom(rnd.choice([100, 5000, 300000]))
            config = f'{{"pusher":{n},"i":{i}}}'.encode()
            blobs = (shared, layer, config)
            i += 1  # an untagged leftover for gc to find: the previous tag moves on
            bad = [(url, "blob", r.status_code, r.text[:300])
                   for r in (push_monolithic(s, url, f"gc/p{n}", b) for b in blobs)
                   if r.status_code != 201]
            if bad:
                failures.extend(bad)
                continue
            manifest = image_manifest(config, [shared, layer])
            tag = f"t{i - 1}"
            r = s.put(f"{url}/v2/gc/p{n}/manifests/{tag}", data=manifest,
                      headers={"Content-Type": OCI_MANIFEST})
            if r.status_code == 201:
                done += 1
                pushed.append(Pushed(f"gc/p{n}", tag, manifest, {
                    digest_of(b): len(b) for b in blobs}))
            elif gc_took_a_blob(r, blobs):
                raced.append(tag)
            else:
                failures.append((url, "manifest", r.status_code, r.text[:300]))

    def pusher(n):
        try:
            push_images(n)
        except Exception as e:  # a thread's exception is lost unless recorded
            failures.append((f"pusher {n}", type(e).__name__, str(e)[:300]))

    PUSHERS, WANTED, ATTEMPTS = 4, 6, 120
    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(PUSHERS)]
    for t in threads:
        t.start()
    runs = 0
    deadline = time.monotonic() + 90  # a bound only: gc runs for as long as pushers push
    try:
        while time.monotonic() < deadline and (runs < 2 or any(t.is_alive() for t in threads)):
            proc = cluster.cli("gc", "--untagged", "--grace", "0", "--json")
            assert proc.returncode == 0, proc.stderr
            runs += 1
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not any(t.is_alive() for t in threads), "a pusher did not finish within 60 s"
    assert failures == [], failures[:10]
    assert runs >= 2 and len(pushed) == PUSHERS * WANTED, (runs, len(pushed), len(raced))
    proc = cluster.cli("gc", "--untagged", "--grace", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    s = requests.Session()
    problems = [p for img in pushed for p in image_problems(s, servers[len(img.tag) % 3], img)]
    assert problems == [], problems[:10]
    print(f"gc ran {runs} times beside {len(pushed)} pushed images "
          f"({len(raced)} refused because gc took a blob first)")


def test_a_token_from_one_instance_works_on_the_others(rgw, postgres, tmp_path):
    """Signing keys travel through the shared index: the instances here have separate data
    folders, yet a token issued by one is accepted by the other, also after a key rotation
    made by the CLI."""
    c = ScaleOutCluster(rgw, postgres, tmp_path)
    try:
        a, b = c.start_instance(), c.start_instance()
        proc = subprocess.run(
            [ocireg_binary(), "user", "add", "alice", "--password-stdin", "--data",
             str(tmp_path / "cli")] + c.where(), input="alice-pass\n", capture_output=True,
            text=True, env=dict(os.environ, **c.env), timeout=60)
        assert proc.returncode == 0, proc.stderr
        proc = c.cli("grant", "alice", "team/*", "pull,push")
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 10  # instances notice the first user within a second
        while requests.get(f"{b.url}/v2/").status_code != 401:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        token = requests.get(f"{a.url}/token", auth=("alice", "alice-pass"), params={
            "service": "ocireg", "scope": "repository:team/app:pull,push"}).json()["token"]
        hdr = {"Authorization": f"Bearer {token}"}
        r = requests.post(f"{b.url}/v2/team/app/blobs/uploads/", headers=hdr,
                          params={"digest": digest_of(b"k")}, data=b"k")
        assert r.status_code == 201, r.text
        assert requests.get(f"{a.url}/v2/team/app/blobs/{digest_of(b'k')}",
                            headers=hdr).content == b"k"
        # the same key files everywhere
        keys = [sorted(os.listdir(os.path.join(s.data, "keys"))) for s in (a, b)]
        assert keys[0] == keys[1] and "master.key" in keys[0]
        # a rotation from the CLI reaches the instances (re)started afterwards
        proc = c.cli("key", "rotate")
        assert proc.returncode == 0, proc.stderr
        d, e = c.start_instance(), c.start_instance()
        assert os.path.basename(proc.stdout.strip()) in os.listdir(os.path.join(d.data, "keys"))
        token = requests.get(f"{d.url}/token", auth=("alice", "alice-pass"), params={
            "service": "ocireg", "scope": "repository:team/app:pull"}).json()["token"]
        r = requests.get(f"{e.url}/v2/team/app/blobs/{digest_of(b'k')}",
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
    finally:
        c.stop()


def test_blob_redirect_sends_clients_to_a_presigned_url(cluster):
    """--blob-redirect: as ECR does for layers, the client fetches from the object store."""
    server = cluster.start_instance(["--blob-redirect"])
    s = requests.Session()
    data = os.urandom(300000)
    assert push_monolithic(s, server.url, "redirect/app", data).status_code == 201
    url = f"{server.url}/v2/redirect/app/blobs/{digest_of(data)}"
    r = s.get(url, allow_redirects=False)
    assert r.status_code == 307 and "X-Amz-Signature=" in r.headers["Location"]
    assert r.headers["Docker-Content-Digest"] == digest_of(data)
    got = s.get(r.headers["Location"], headers={"Range": "bytes=100-199"})
    assert got.status_code == 206 and got.content == data[100:200]
    assert s.get(url).content == data  # followed
    assert s.head(url).headers["Content-Length"] == str(len(data))  # HEAD stays local
    tampered = r.headers["Location"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert s.get(tampered).status_code == 403
    server.stop()


def test_small_blobs_live_in_postgresql_and_are_never_redirected(cluster):
    """Blobs up to --inline-max (the default 64 KiB) are held in the shared index: every
    instance serves them, with Range, and --blob-redirect has no object to send a client to."""
    server = cluster.start_instance(["--blob-redirect"])
    s = requests.Session()
    at, over = os.urandom(64 * 1024), os.urandom(64 * 1024 + 1)
    for data in (at, over):
        assert push_monolithic(s, urls(cluster)[0], "held/app", data).status_code == 201
    url = f"{server.url}/v2/held/app/blobs/{digest_of(at)}"
    r = s.get(url, allow_redirects=False)
    assert r.status_code == 200 and r.content == at, f"held: expected 200, got {r.status_code}"
    r = s.get(f"{server.url}/v2/held/app/blobs/{digest_of(over)}", allow_redirects=False)
    assert r.status_code == 307, f"one byte over is an object: expected 307, got {r.status_code}"
    for other in urls(cluster)[1:]:
        r = s.get(f"{other}/v2/held/app/blobs/{digest_of(at)}", headers={"Range": "bytes=5-9"})
        assert r.status_code == 206 and r.content == at[5:10]
    server.stop()


def test_fsck_checks_every_object_against_its_row(cluster):
    s = requests.Session()
    url = cluster.servers[0].url
    data = os.urandom(9 << 20)  # a multipart upload, then copied to its address
    assert push_monolithic(s, url, "fsck/app", data).status_code == 201
    proc = cluster.cli("fsck", "--json", timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    report = json.loads(proc.stdout)
    assert report["problems"] == 0 and report["blobs_checked"] >= 1, report


def session_objects(rgw, bucket, session_id):
    """Keys under uploads/<id>/ and multipart uploads open there."""
    prefix = f"uploads/{session_id}/"
    status, _, body = rgw.request("GET", f"/{bucket}?list-type=2&prefix={prefix}")
    assert status == 200, body[:300]
    keys = re.findall(r"<Key>([^<]*)</Key>", body.decode())
    status, _, body = rgw.request("GET", f"/{bucket}?uploads&prefix={prefix}")
    assert status == 200, body[:300]
    return keys + re.findall(r"<Key>([^<]*)</Key>", body.decode())


def test_finished_sessions_leave_nothing_under_uploads(cluster, rgw):
    """Every way a session ends (one PUT with the body, a PATCH then PUT, parts, a cancel, a
    monolithic POST), each request on another instance: no tail, data object or multipart
    upload of the session is left in the bucket, and the blobs are whole."""
    a, b, c = urls(cluster)
    s = requests.Session()
    ended, blobs = [], []
    octets = {"Content-Type": "application/octet-stream"}

    def start(url):
        r = s.post(f"{url}/v2/ends/app/blobs/uploads/")
        assert r.status_code == 202, r.text
        ended.append(r.headers["Docker-Upload-UUID"])
        return r.headers["Location"]

    small = os.urandom(1000)  # POST on a, PUT with the body on b (what clients pushing do)
    r = s.put(b + start(a), params={"digest": digest_of(small)}, data=small, headers=octets)
    assert r.status_code == 201, r.text
    blobs.append(small)
    for data, cut in ((os.urandom(70000), 3000), (os.urandom(9 << 20), 8 << 20 | 5)):
        path = start(a)  # a tail (then parts) on b, the rest with the PUT on c
        r = s.patch(b + path, data=data[:cut], headers=dict(octets, **{
            "Content-Range": f"0-{cut - 1}"}))
        assert r.status_code == 202, r.text
        r = s.put(c + r.headers["Location"], params={"digest": digest_of(data)},
                  data=data[cut:], headers=octets)
        assert r.status_code == 201, r.text
        blobs.append(data)
    path = start(b)  # cancelled after a PATCH
    r = s.patch(c + path, data=b"x" * 5000, headers=octets)
    assert r.status_code == 202, r.text
    assert s.delete(a + r.headers["Location"]).status_code == 204
    mono = os.urandom(2 << 20)
    r = push_monolithic(s, c, "ends/app", mono)
    assert r.status_code == 201, r.text
    blobs.append(mono)
    for sid in ended:
        assert session_objects(rgw, cluster.bucket, sid) == [], sid
    for data in blobs:
        got = s.get(f"{a}/v2/ends/app/blobs/{digest_of(data)}")
        assert got.status_code == 200 and got.content == data
