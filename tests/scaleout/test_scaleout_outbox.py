"""The outbox with three instances on one bucket (Ceph radosgw) and one PostgreSQL index
(issue 21): pushes spread over the instances while `gc --untagged` runs beside, a webhook that
wants push and replication events and a replication destination (a fourth ocireg). Every
acknowledged push reaches the receiver (duplicates only with the same id), every image kept
is replicated COMPLETE and bit-exact, and no outbox entry is left pending or parked."""
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict

import pytest
import requests

from ocireg_harness import RegistryServer, ScaleOutCluster, ocireg_binary

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from regutil import push_blob, image_manifest, OCI_MANIFEST, digest_of  # noqa: E402
from test_webhooks import Receiver  # noqa: E402

boto3 = pytest.importorskip("boto3", reason="python3-boto3 (scripts/deps.sh test)")
import botocore.config  # noqa: E402

DEST = ("us-west-2", "111111111111")
PUSHERS, IMAGES = 4, 5          # kept images per pusher; each also moves a scratch tag
BOUND = 60                      # seconds: pushes, gc, delivery and replication, all together


def cli(cluster, *args, stdin=None):
    proc = subprocess.run(
        [ocireg_binary(), *args, "--data", os.path.join(str(cluster.workdir), "cli"),
         *cluster.where()], input=stdin, capture_output=True, text=True,
        env=dict(os.environ, **cluster.env), timeout=120)
    assert proc.returncode == 0, f"ocireg {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def token_session(url, repo):
    r = requests.get(f"{url}/token", auth=("admin", "admin-pass"), timeout=30,
                     params={"service": "ocireg", "scope": f"repository:{repo}:pull,push"})
    assert r.status_code == 200, r.text
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    return s


def outbox_states(cluster):
    """{state: count} of the shared outbox table."""
    out = subprocess.run(["psql", cluster.index, "-XAtqc",
                          "SELECT state || ' ' || count(*) FROM outbox GROUP BY state"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return {w[0]: int(w[1]) for w in (line.split() for line in out.splitlines()) if len(w) == 2}


@pytest.fixture(scope="module")
def setup(rgw, postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("scaleout-outbox")
    (root / "cluster").mkdir()
    cluster = ScaleOutCluster(rgw, postgres, root / "cluster")
    dest = RegistryServer(str(root / "dest")).start()
    receiver = Receiver()
    try:
        cli(cluster, "user", "add", "admin", "--password-stdin", stdin="admin-pass\n")
        cli(cluster, "grant", "admin", "*", "*")
        key = json.loads(cli(cluster, "user", "key", "create", "admin", "--json"))
        cli(cluster, "replication", "destination", "add", "--region", DEST[0], "--registry-id",
            DEST[1], dest.url)
        cli(cluster, "webhook", "add", "ci", receiver.url + "/ci", "--events",
            "push,replication")
        for _ in range(3):
            cluster.start_instance(["--outbox-retry-ms", "200"])
        ecr = boto3.client("ecr", endpoint_url=cluster.servers[0].url, region_name="us-east-1",
                           aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"],
                           config=botocore.config.Config(retries={"total_max_attempts": 1}))
        ecr.put_replication_configuration(replicationConfiguration={"rules": [{
            "destinations": [{"region": DEST[0], "registryId": DEST[1]}],
            "repositoryFilters": [{"filter": "app", "filterType": "PREFIX_MATCH"}]}]})
        yield cluster, dest, receiver, ecr
        ecr.close()
    finally:
        cluster.stop()
        dest.stop()
        receiver.close()


def push(s, url, repo, tag, shared, n, i):
    """One image (a shared layer, a layer and config of its own); the manifest PUT's answer
    and the image's manifest bytes and blobs."""
    layer = os.urandom(2000 + 97 * i)
    config = json.dumps({"architecture": "amd64", "os": "linux", "p": n, "i": i,
                         "tag": tag}).encode()
    for b in (shared, layer, config):
        push_blob(url, repo, b, s)
    manifest = image_manifest(config, [shared, layer])
    r = s.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest,
              headers={"Content-Type": OCI_MANIFEST}, timeout=30)
    return r, manifest, (shared, layer, config)


def gc_took_a_blob(r):
    """The one refusal expected: gc (grace 0) collected a blob between its push and the
    manifest PUT (400 MANIFEST_BLOB_UNKNOWN)."""
    try:
        codes = [e.get("code") for e in r.json().get("errors") or []]
    except ValueError:
        return False
    return r.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in codes


def test_events_and_replication_survive_three_instances_and_gc(setup):
    cluster, dest, receiver, ecr = setup
    urls = [s.url for s in cluster.servers]
    start = time.monotonic()
    kept, acked, failures, stop = [], [], [], threading.Event()
    shared = os.urandom(4096)

    def pusher(n):
        repo = f"app/p{n}"
        s = token_session(urls[n % 3], repo)
        i = attempts = 0
        while i < IMAGES and attempts < 10 * IMAGES and not stop.is_set():
            attempts += 1
            url = urls[(n + attempts) % 3]
            # scratch moves on every round: the previous one is left for gc --untagged
            for tag in (f"t{i}", "scratch"):
                r, manifest, _ = push(s, url, repo, tag, shared, n, attempts)
                if r.status_code == 201:
                    acked.append((repo, tag, digest_of(manifest)))
                    if tag != "scratch":
                        kept.append((repo, tag, manifest))
                        i += 1
                elif not gc_took_a_blob(r):   # then it is pushed again
                    failures.append((url, tag, r.status_code, r.text[:300]))

    def guarded(n):
        try:
            pusher(n)
        except Exception as e:  # a thread's exception is lost unless recorded
            failures.append((f"pusher {n}", type(e).__name__, str(e)[:300]))

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(PUSHERS)]
    for t in threads:
        t.start()
    runs = 0
    try:
        while runs < 2 or any(t.is_alive() for t in threads):
            assert time.monotonic() - start < BOUND, "pushes and gc exceeded the bound"
            out = cli(cluster, "gc", "--untagged", "--grace", "0", "--json")
            assert out
            runs += 1
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == [], failures[:10]
    assert len(kept) == PUSHERS * IMAGES, (len(kept), len(acked))

    # every acknowledged push has its event (duplicates carry the same id and body)
    def pushed_events():
        got = defaultdict(set)
        for p in receiver.received("/ci"):
            e = json.loads(p["body"])
            if e["detail-type"] == "ECR Image Action":
                d = e["detail"]
                got[(d["repository-name"], d.get("image-tag"), d["image-digest"])].add(e["id"])
        return got
    want = set(acked)
    deadline = start + BOUND
    while not want <= set(pushed_events()) and time.monotonic() < deadline:
        time.sleep(0.1)
    missing = want - set(pushed_events())
    assert not missing, f"{len(missing)} acknowledged pushes without an event: {sorted(missing)[:5]}"
    by_id = defaultdict(set)
    for p in receiver.received("/ci"):
        by_id[json.loads(p["body"])["id"]].add(p["body"])
    assert all(len(bodies) == 1 for bodies in by_id.values()), \
        "one event id was delivered with different bodies"

    # every kept image is replicated COMPLETE and bit-exact
    def incomplete():
        out = []
        for repo, tag, manifest in kept:
            st = ecr.describe_image_replication_status(
                repositoryName=repo, imageId={"imageDigest": digest_of(manifest)})
            got = [(s["region"], s["registryId"], s["status"]) for s in st["replicationStatuses"]]
            if got != [(*DEST, "COMPLETE")]:
                out.append((repo, tag, got))
        return out
    while incomplete() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert incomplete() == []
    for repo, tag, manifest in kept:
        r = requests.get(f"{dest.url}/v2/{repo}/manifests/{tag}",
                         headers={"Accept": OCI_MANIFEST}, timeout=30)
        assert r.status_code == 200 and r.content == manifest, f"{repo}:{tag} at the destination"
        for layer in json.loads(manifest)["layers"]:
            b = requests.get(f"{dest.url}/v2/{repo}/blobs/{layer['digest']}", timeout=30)
            assert digest_of(b.content) == layer["digest"], f"{repo} blob {layer['digest']}"
    replicated = {e["detail"]["image-digest"] for e in map(json.loads, (
        p["body"] for p in receiver.received("/ci")))
        if e["detail-type"] == "ECR Replication Action" and e["detail"]["result"] == "SUCCESS"}
    assert {digest_of(m) for _, _, m in kept} <= replicated, "a replication without its event"

    # nothing left behind: no entry pending (or leased) and none parked
    while outbox_states(cluster).get("pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    states = outbox_states(cluster)
    assert not states.get("pending") and not states.get("parked"), states
    took = time.monotonic() - start
    print(f"{len(acked)} pushes over 3 instances, gc ran {runs} times, {len(by_id)} events "
          f"({len(receiver.received('/ci')) - len(by_id)} duplicates), "
          f"all replicated in {took:.1f} s; outbox {states}")
    assert took < BOUND
