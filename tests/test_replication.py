"""Replication (issue 21, part B): ECR's replication configuration through boto3 with the model's
limits, ocireg's destinations (sealed passwords), and `ocireg replication sync` pushing images
to a second ocireg (Docker token auth) and to Debian's docker-registry (htpasswd): plain
images, a multi-arch index with its children, a referrer and a moved tag, every one pulled back
bit-exact from each destination; statuses through DescribeImageReplicationStatus and `ocireg
replication status`; a destination that is down fails with a reason, then completes."""
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import closing

import pytest
import requests

from authutil import add_user, cli, grant
from ocireg_harness import RegistryServer
from regutil import (OCI_MANIFEST, blob_path, db, digest_of, pull_problems, push_image, push_index,
                     put_manifest)
from upstreams import Distribution, LocalHTTP

boto3 = pytest.importorskip("boto3", reason="python3-boto3 (scripts/deps.sh test)")
import botocore.config  # noqa: E402  (after boto3, which brings it)
from botocore.exceptions import ClientError  # noqa: E402

REGION = "us-east-1"
OCIREG_DEST = ("us-west-2", "111111111111")     # the second ocireg
DIST_DEST = ("eu-west-1", "222222222222")       # docker-registry
DEST_PASSWORD = "s3cret-dest-pass"
RULES = [{"destinations": [{"region": r, "registryId": i} for r, i in (OCIREG_DEST, DIST_DEST)],
          "repositoryFilters": [{"filter": "app", "filterType": "PREFIX_MATCH"}]}]


def need(program):
    if not shutil.which(program):
        pytest.skip(f"{program} is not installed (scripts/deps.sh test)")


def token_session(server, user, password, repo, actions="pull"):
    r = requests.get(f"{server.url}/token", auth=(user, password), timeout=30,
                     params={"service": "ocireg", "scope": f"repository:{repo}:{actions}"})
    assert r.status_code == 200, r.text
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    return s


class Env:
    def __init__(self, root, source_args=()):
        need("docker-registry")
        need("htpasswd")
        self.data = root / "source"
        add_user(self.data, "admin", "admin-pass")
        grant(self.data, "admin", "*", "*")
        self.key = json.loads(cli("user", "key", "create", "admin", "--json", "--data",
                                  str(self.data)).stdout)
        self.source = RegistryServer(self.data, source_args).start()
        dest_data = root / "dest"
        add_user(dest_data, "repl", DEST_PASSWORD)
        grant(dest_data, "repl", "*", "pull,push")
        self.dest = RegistryServer(dest_data).start()
        self.dist = Distribution(root / "dist", ("repl", DEST_PASSWORD)).start()
        self.ecr = boto3.client(
            "ecr", endpoint_url=self.source.url, region_name=REGION,
            aws_access_key_id=self.key["AccessKeyId"],
            aws_secret_access_key=self.key["SecretAccessKey"],
            config=botocore.config.Config(retries={"total_max_attempts": 1}))
        self.add_destinations()

    def stop(self):
        self.ecr.close()   # an idle keep-alive connection would hold serve's graceful stop
        gc.collect()       # and so would the sessions' pools
        self.source.stop()
        self.dest.stop()
        self.dist.stop()

    def push_session(self, repo):
        return token_session(self.source, "admin", "admin-pass", repo, "pull,push")

    def replication(self, *args, stdin=None, check=True):
        return cli("replication", *args, "--data", str(self.data), stdin=stdin, check=check)

    def add_destinations(self):
        self.replication("destination", "add", "--region", OCIREG_DEST[0], "--registry-id",
                         OCIREG_DEST[1], self.dest.url, "--username", "repl", "--password-stdin",
                         stdin=DEST_PASSWORD + "\n")
        self.replication("destination", "add", "--region", DIST_DEST[0], "--registry-id",
                         DIST_DEST[1], self.dist.url, "--username", "repl", "--password-stdin",
                         stdin=DEST_PASSWORD + "\n")

    def destination_sessions(self, repo):
        return [(self.dest.url, token_session(self.dest, "repl", DEST_PASSWORD, repo)),
                (self.dist.url, self.dist.session())]

    def assert_everywhere(self, img, ref=None):
        for url, session in self.destination_sessions(img.repo):
            problems = pull_problems(url, img, ref, session)
            assert not problems, f"expected {img.repo}:{ref or img.tag} bit-exact at {url}: " \
                                 f"{problems}"

    def wait_statuses(self, repo, digest, want, timeout=20):
        """Wait (bounded) until the image's statuses are `want`; returns the last seen."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.statuses(repo, digest)
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def statuses(self, repo, digest):
        out = self.ecr.describe_image_replication_status(
            repositoryName=repo, imageId={"imageDigest": digest})
        return {(s["region"], s["registryId"]): (s["status"], s.get("failureCode"))
                for s in out["replicationStatuses"]}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Sync alone replicates here: the source runs no outbox workers."""
    e = Env(tmp_path_factory.mktemp("replication"), ["--outbox-workers", "0"])
    try:
        yield e
    finally:
        e.stop()


# ---- configuration ----

def test_destination_password_is_sealed_and_never_listed(env):
    listed = env.replication("destination", "list").stdout
    assert env.dest.url in listed and env.dist.url in listed and "repl" in listed
    assert DEST_PASSWORD not in listed, "destination list printed the password"
    with open(env.data / "meta.db", "rb") as f:
        assert DEST_PASSWORD.encode() not in f.read(), "the password is stored in plaintext"
    for wal in ("meta.db-wal",):
        if (env.data / wal).exists():
            assert DEST_PASSWORD.encode() not in (env.data / wal).read_bytes()


def test_destination_add_refuses_bad_fields(env):
    cases = [("us_west", "111111111111", "http://x", "a region is 2 to 25"),
             ("us-west-1", "1234", "http://x", "12 digits"),
             ("us-west-1", "111111111111", "ftp://x", "http:// or https://"),
             ("us-west-1", "111111111111", "http://u:p@x", "not in the URL"),
             ("us-west-1", "111111111111", "http://x/" + "p" * 1016, "at most 1024 bytes")]
    for region, rid, url, why in cases:
        r = env.replication("destination", "add", "--region", region, "--registry-id", rid, url,
                            check=False)
        assert r.returncode == 1 and why in r.stderr, f"expected '{why}', got {r.stderr!r}"
    r = env.replication("destination", "add", "--region", "us-west-1", "--registry-id",
                        "333333333333", "http://x", "--username", "u", "--password-stdin",
                        stdin="p" * 8193 + "\n", check=False)
    assert r.returncode == 1 and "8192" in r.stderr, "a password over the limit was taken"
    r = env.replication("destination", "delete", "--region", "us-west-1", "--registry-id",
                        "333333333333", check=False)
    assert r.returncode == 1 and "no such destination" in r.stderr


def test_ecr_configuration_round_trip(env):
    out = env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    assert out["replicationConfiguration"]["rules"] == RULES
    described = env.ecr.describe_registry()
    assert described["replicationConfiguration"]["rules"] == RULES


def invalid(env, rules):
    with pytest.raises(ClientError) as err:
        env.ecr.put_replication_configuration(replicationConfiguration={"rules": rules})
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_ecr_configuration_limits_are_the_models(env):
    dest = [{"region": "us-west-2", "registryId": "111111111111"}]
    many = [{"region": "us-west-2", "registryId": f"{i:012d}"} for i in range(1, 27)]
    cases = {
        "at most 10 rules": [{"destinations": dest}] * 11,
        "1 to 25 destinations": [{"destinations": many}],
        "listed twice": [{"destinations": dest * 2}],
        "does not replicate to itself":
            [{"destinations": [{"region": REGION, "registryId": "000000000000"}]}],
        "a region is 2 to 25": [{"destinations": [{"region": "US_WEST",
                                                   "registryId": "111111111111"}]}],
        "prefix": [{"destinations": dest, "repositoryFilters": [
            {"filter": "Upper/Case", "filterType": "PREFIX_MATCH"}]}],
        "PREFIX_MATCH": [{"destinations": dest, "repositoryFilters": [
            {"filter": "app", "filterType": "WILDCARD"}]}],
        "1 to 100 filters": [{"destinations": dest, "repositoryFilters": [
            {"filter": f"app{i}", "filterType": "PREFIX_MATCH"} for i in range(101)]}],
    }
    for why, rules in cases.items():
        code, message = invalid(env, rules)
        assert code == "ValidationException" and why in message, \
            f"{why}: expected ValidationException, got {code}: {message}"
    assert env.ecr.describe_registry()["replicationConfiguration"]["rules"] == RULES, \
        "a refused configuration replaced the stored one"


def test_status_of_unknown_image_is_image_not_found(env):
    push_image(env.source.url, "app/none", "v1", session=env.push_session("app/none"))
    with pytest.raises(ClientError) as err:
        env.ecr.describe_image_replication_status(repositoryName="app/none",
                                                  imageId={"imageTag": "nope"})
    assert err.value.response["Error"]["Code"] == "ImageNotFoundException"
    with pytest.raises(ClientError) as err:
        env.ecr.describe_image_replication_status(repositoryName="app/missing",
                                                  imageId={"imageTag": "v1"})
    assert err.value.response["Error"]["Code"] == "RepositoryNotFoundException"


# ---- the push engine through sync ----

def push_referrer(env, subject):
    s = env.push_session(subject.repo)
    return push_image(env.source.url, subject.repo, None, layers=(b"signature bytes",),
                      subject=subject, artifact_type="application/vnd.example.signature",
                      session=s)


def test_sync_replicates_images_index_referrer_and_moved_tag(env):
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    s = env.push_session("app/web")
    web = push_image(env.source.url, "app/web", "v1", layers=(b"web layer 1", b"web layer 2"),
                     session=s)
    big = push_image(env.source.url, "app/web", "big", layers=(os.urandom(3 << 20),), session=s)
    signature = push_referrer(env, web)
    s = env.push_session("app/multi")
    children = [push_image(env.source.url, "app/multi", None, layers=(f"arch {i}".encode(),),
                           session=s) for i in range(2)]
    index = push_index(env.source.url, "app/multi", "latest", children, session=s)
    push_image(env.source.url, "other/x", "v1", session=env.push_session("other/x"))

    r = env.replication("sync", check=False)
    assert r.returncode == 0, f"sync failed: {r.stdout} {r.stderr}"
    for img in (web, big, index, *children):
        env.assert_everywhere(img)
    env.assert_everywhere(signature, signature.digest)
    for url, session in env.destination_sessions("other/x"):
        got = session.get(f"{url}/v2/other/x/manifests/v1",
                          headers={"Accept": OCI_MANIFEST}, timeout=30).status_code
        assert got in (401, 404), f"other/x matches no filter but reached {url} ({got})"

    for img in (web, big, index):
        statuses = env.statuses(img.repo, img.digest)
        assert statuses == {OCIREG_DEST: ("COMPLETE", None), DIST_DEST: ("COMPLETE", None)}, \
            f"{img.repo}:{img.tag}: expected COMPLETE at both destinations, got {statuses}"
    shown = env.replication("status", "app/multi:latest").stdout
    assert shown.count("COMPLETE") == 2 and index.digest in shown, shown

    # the tag moves at the source, then at the destinations
    moved = push_image(env.source.url, "app/web", "v1", layers=(b"web layer 3",),
                       session=env.push_session("app/web"))
    r = env.replication("sync", "app/web", check=False)
    assert r.returncode == 0, f"sync failed: {r.stdout} {r.stderr}"
    env.assert_everywhere(moved)
    assert moved.digest != web.digest


def test_small_blobs_reach_docker_registry_without_a_wait(env):
    """Small blobs go in one monolithic POST; docker-registry ignores its body and answers
    202 (then the blob is PUT) without a 100 Continue, so with curl's default "Expect:
    100-continue" each one waited a second: one image of 6 small blobs syncs well within."""
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    img = push_image(env.source.url, "app/quick", "v1",
                     layers=tuple(f"quick layer {i}".encode() for i in range(5)),
                     session=env.push_session("app/quick"))
    started = time.monotonic()
    r = env.replication("sync", "app/quick", check=False)
    took = time.monotonic() - started
    assert r.returncode == 0, f"sync failed: {r.stdout} {r.stderr}"
    env.assert_everywhere(img)
    assert took < 3, f"syncing one image of 6 small blobs took {took:.1f} s"


def test_destination_down_fails_with_reason_then_completes(env):
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    env.dist.stop()
    img = push_image(env.source.url, "app/down", "v1", layers=(b"while it was down",),
                     session=env.push_session("app/down"))
    r = env.replication("sync", "app/down", check=False)
    assert r.returncode == 1, f"expected sync to fail for the stopped destination: {r.stdout}"
    statuses = env.statuses("app/down", img.digest)
    assert statuses[OCIREG_DEST] == ("COMPLETE", None), statuses
    status, reason = statuses[DIST_DEST]
    assert status == "FAILED" and reason, f"expected FAILED with a reason, got {statuses}"
    assert env.dist.url not in reason, f"the destination's URL is in the reason: {reason}"
    # The whole URL goes, path included (a destination's path or query may carry a secret).
    assert "(destination)" in reason and "/v2/" not in reason, \
        f"expected the URL replaced whole by (destination), got {reason}"
    assert DEST_PASSWORD not in reason and DEST_PASSWORD not in r.stdout
    shown = env.replication("status", "app/down:v1").stdout
    assert "FAILED" in shown and "COMPLETE" in shown, shown

    env.dist.start()
    r = env.replication("sync", "app/down", check=False)
    assert r.returncode == 0, f"sync after the destination returned: {r.stdout} {r.stderr}"
    assert env.statuses("app/down", img.digest) == {OCIREG_DEST: ("COMPLETE", None),
                                                   DIST_DEST: ("COMPLETE", None)}
    env.assert_everywhere(img)


def test_destination_without_address_fails_its_images(env):
    lost = ("ap-south-1", "444444444444")
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": [
        {"destinations": [{"region": lost[0], "registryId": lost[1]}],
         "repositoryFilters": [{"filter": "app/lost", "filterType": "PREFIX_MATCH"}]}]})
    img = push_image(env.source.url, "app/lost", "v1", session=env.push_session("app/lost"))
    r = env.replication("sync", "app/lost", check=False)
    assert r.returncode == 1
    status, reason = env.statuses("app/lost", img.digest)[lost]
    assert status == "FAILED" and "replication destination add" in reason, reason


def test_blob_in_another_repository_is_mounted_not_uploaded(env):
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    shared = os.urandom(256 << 10)
    first = push_image(env.source.url, "app/share-a", "v1", layers=(shared,),
                       session=env.push_session("app/share-a"))
    env.replication("sync", "app/share-a")
    second = push_image(env.source.url, "app/share-b", "v1", layers=(shared,),
                        session=env.push_session("app/share-b"))
    env.replication("sync", "app/share-b")
    env.assert_everywhere(first)
    env.assert_everywhere(second)
    with open(env.dest.log_path) as f:
        lines = [json.loads(line) for line in f if line.startswith("{")]
    share_b = [(x["method"], x["status"], x["bytes_in"]) for x in lines
               if x.get("path", "").startswith("/v2/app/share-b/blobs/uploads/")]
    assert ("POST", 201, 0) in share_b, f"expected a cross-repository mount (201), got {share_b}"
    assert all(n < len(shared) for _, _, n in share_b), \
        f"the shared layer was uploaded again instead of mounted: {share_b}"


def test_indexes_nested_deeper_than_the_limit_fail(env):
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    s = env.push_session("app/nested")
    inner = push_image(env.source.url, "app/nested", None, layers=(b"deep",), session=s)
    for depth in range(5):   # REPLICATE_DEPTH_MAX is 4: five indexes above the image
        inner = push_index(env.source.url, "app/nested", None if depth < 4 else "deep", [inner],
                           session=s)
    r = env.replication("sync", "app/nested", check=False)
    assert r.returncode == 1, f"expected the too-deep index to fail: {r.stdout}"
    status, reason = env.statuses("app/nested", inner.digest)[OCIREG_DEST]
    assert status == "FAILED" and "nested deeper than 4" in reason, reason


def skopeo(*args):
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"


def test_skopeo_pushed_multiarch_index_pulls_with_skopeo_from_each_destination(env, tmp_path):
    need("skopeo")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "clients"))
    from ocibuild import build_multiarch
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    built = build_multiarch(str(tmp_path / "layout"), tag="multi")
    skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds",
           "admin:admin-pass", f"oci:{tmp_path / 'layout'}:multi",
           f"docker://{env.source.host}/app/skopeo:multi")
    r = env.replication("sync", "app/skopeo", check=False)
    assert r.returncode == 0, f"sync failed: {r.stdout} {r.stderr}"
    for name, host in (("ocireg", env.dest.host), ("distribution", f"127.0.0.1:{env.dist.port}")):
        out = tmp_path / f"from-{name}"
        skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds",
               f"repl:{DEST_PASSWORD}", f"docker://{host}/app/skopeo:multi", f"oci:{out}:multi")
        with open(out / "index.json") as f:
            got = json.load(f)["manifests"][0]["digest"]
        assert got == built.index_digest, f"{name}: the index came back as {got}"
        index_bytes = (out / "blobs" / "sha256" / got.split(":")[1]).read_bytes()
        assert index_bytes == built.index, f"{name}: the index bytes differ"


# ---- every push queues its replication in the outbox ----

@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    """The outbox's workers replicate each push; a failed attempt is retried after 200 ms,
    doubling."""
    from test_webhooks import Receiver
    e = Env(tmp_path_factory.mktemp("replication-auto"), ["--outbox-retry-ms", "200"])
    e.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    e.receiver = Receiver()
    cli("webhook", "add", "repl-events", e.receiver.url + "/repl", "--events", "replication",
        "--data", str(e.data))
    try:
        yield e
    finally:
        e.stop()
        e.receiver.close()


BOTH_COMPLETE = {OCIREG_DEST: ("COMPLETE", None), DIST_DEST: ("COMPLETE", None)}


def test_manifest_put_and_put_image_replicate_without_sync(auto):
    s = auto.push_session("app/auto")
    img = push_image(auto.source.url, "app/auto", "v1", layers=(b"auto layer",), session=s)
    got = auto.wait_statuses("app/auto", img.digest, BOTH_COMPLETE)
    assert got == BOTH_COMPLETE, f"expected the push replicated by the outbox, got {got}"
    auto.assert_everywhere(img)
    auto.ecr.put_image(repositoryName="app/auto", imageManifest=img.manifest.decode(),
                       imageManifestMediaType=OCI_MANIFEST, imageTag="v2")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(not pull_problems(url, img, "v2", session)
               for url, session in auto.destination_sessions("app/auto")):
            break
        time.sleep(0.1)
    auto.assert_everywhere(img, "v2")
    other = push_image(auto.source.url, "other/auto", "v1", session=auto.push_session("other/auto"))
    assert auto.statuses("other/auto", other.digest) == {}, \
        "a repository no filter matches was queued for replication"


def test_destination_down_is_retried_until_it_completes(auto):
    auto.dist.stop()
    img = push_image(auto.source.url, "app/auto-down", "v1", layers=(b"queued while down",),
                     session=auto.push_session("app/auto-down"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = auto.statuses("app/auto-down", img.digest)
        if got.get(DIST_DEST, ("",))[0] == "FAILED":
            break
        time.sleep(0.05)
    assert got.get(DIST_DEST, ("",))[0] == "FAILED" and got[DIST_DEST][1], \
        f"expected FAILED with a reason while the destination is down, got {got}"
    auto.dist.start()
    got = auto.wait_statuses("app/auto-down", img.digest, BOTH_COMPLETE)
    assert got == BOTH_COMPLETE, f"expected COMPLETE once the destination returned, got {got}"
    auto.assert_everywhere(img)


def test_sigkill_during_pushes_loses_no_acknowledged_replication(auto):
    import threading
    acknowledged = []
    session = auto.push_session("app/crash")
    killer = None
    for i in range(40):
        try:
            img = push_image(auto.source.url, "app/crash", f"t{i}", layers=(f"crash {i}".encode(),),
                             session=session)
        except (requests.ConnectionError, AssertionError):
            break
        acknowledged.append(img)
        if i == 8:
            killer = threading.Thread(target=auto.source.kill)
            killer.start()
    killer.join()
    assert 9 <= len(acknowledged) < 40, "the server was not killed in the middle of the pushes"
    auto.source.start()
    deadline = time.monotonic() + 30
    pending = list(acknowledged)
    while pending and time.monotonic() < deadline:
        pending = [img for img in pending
                   if auto.statuses("app/crash", img.digest) != BOTH_COMPLETE]
        time.sleep(0.2)
    assert not pending, f"{len(pending)} acknowledged images never reached every destination"
    for img in acknowledged:
        auto.assert_everywhere(img)


def test_postgresql_index_keeps_configuration_destinations_and_statuses(postgres, tmp_path):
    url = postgres.new_database("replication")
    data = tmp_path / "pg-source"
    cli("user", "add", "admin", "--password-stdin", "--index", url, "--data", str(data),
        stdin="admin-pass\n")
    cli("grant", "admin", "*", "*", "--index", url, "--data", str(data))
    key = json.loads(cli("user", "key", "create", "admin", "--json", "--index", url, "--data",
                         str(data)).stdout)
    source = RegistryServer(data, ["--index", url]).start()
    dest = RegistryServer(tmp_path / "pg-dest").start()   # no users: anonymous pushes
    ecr = None
    try:
        cli("replication", "destination", "add", "--region", OCIREG_DEST[0], "--registry-id",
            OCIREG_DEST[1], dest.url, "--index", url, "--data", str(data))
        ecr = boto3.client("ecr", endpoint_url=source.url, region_name=REGION,
                           aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"])
        rules = [{"destinations": [{"region": OCIREG_DEST[0], "registryId": OCIREG_DEST[1]}],
                  "repositoryFilters": [{"filter": "pg/", "filterType": "PREFIX_MATCH"}]}]
        ecr.put_replication_configuration(replicationConfiguration={"rules": rules})
        assert ecr.describe_registry()["replicationConfiguration"]["rules"] == rules
        img = push_image(source.url, "pg/app", "v1",
                         session=token_session(source, "admin", "admin-pass", "pg/app",
                                               "pull,push"))
        r = cli("replication", "sync", "pg/app", "--index", url, "--data", str(data),
                check=False)
        assert r.returncode == 0, f"sync on PostgreSQL: {r.stdout} {r.stderr}"
        deadline = time.monotonic() + 20
        while True:
            got = ecr.describe_image_replication_status(
                repositoryName="pg/app", imageId={"imageTag": "v1"})["replicationStatuses"]
            if [s["status"] for s in got] == ["COMPLETE"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [(s["region"], s["registryId"], s["status"]) for s in got] == \
            [(*OCIREG_DEST, "COMPLETE")], got
        problems = pull_problems(dest.url, img)
        assert not problems, problems
    finally:
        if ecr:
            ecr.close()
        gc.collect()
        source.stop()
        dest.stop()


def test_each_replication_sends_a_replication_event(auto):
    img = push_image(auto.source.url, "app/events", "v1", layers=(b"evented",),
                     session=auto.push_session("app/events"))
    assert auto.wait_statuses("app/events", img.digest, BOTH_COMPLETE) == BOTH_COMPLETE

    def mine():
        out = []
        for post in auto.receiver.posts:
            event = json.loads(post["body"])
            if event["detail"].get("image-digest") == img.digest:
                out.append(event)
        return out
    deadline = time.monotonic() + 10
    while len(mine()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = mine()
    assert len(events) == 2, f"expected one replication event per destination, got {events}"
    for event in events:
        assert event["detail-type"] == "ECR Replication Action"
        assert event["detail"]["result"] == "SUCCESS"
        assert event["detail"]["action-type"] == "REPLICATE"
        assert event["detail"]["repository-name"] == "app/events"
    got = sorted((e["detail"]["destination-region"], e["detail"]["destination-account"])
                 for e in events)
    assert got == sorted([OCIREG_DEST, DIST_DEST]), \
        f"expected each event to name its destination (region, registry id), got {got}"


def test_import_queues_replication_like_a_push(auto, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "clients"))
    from ocibuild import build_single
    build_single(str(tmp_path / "layout"), tag="v1")
    archive = tmp_path / "img.tar.zst"
    subprocess.run(["tar", "--zstd", "-cf", str(archive), "-C", str(tmp_path / "layout"), "."],
                   check=True)
    cli("import", str(archive), "--repo", "app/imported", "--data", str(auto.data))
    digest = auto.ecr.describe_images(repositoryName="app/imported")["imageDetails"][0][
        "imageDigest"]
    got = auto.wait_statuses("app/imported", digest, BOTH_COMPLETE)
    assert got == BOTH_COMPLETE, f"expected the imported image replicated, got {got}"
    for url, session in auto.destination_sessions("app/imported"):
        r = session.get(f"{url}/v2/app/imported/manifests/v1", timeout=30,
                        headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and digest_of(r.content) == digest, \
            f"{url}: the imported image is not there ({r.status_code})"


def test_a_changed_destination_password_takes_effect_in_the_running_server(auto):
    def set_password(password):
        auto.replication("destination", "add", "--region", DIST_DEST[0], "--registry-id",
                         DIST_DEST[1], auto.dist.url, "--username", "repl", "--password-stdin",
                         stdin=password + "\n")
    set_password("not-the-password")
    try:
        img = push_image(auto.source.url, "app/rekey", "v1", layers=(b"rekeyed",),
                         session=auto.push_session("app/rekey"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = auto.statuses("app/rekey", img.digest).get(DIST_DEST, ("", None))
            if got[0] == "FAILED":
                break
            time.sleep(0.05)
        assert got[0] == "FAILED" and "401" in got[1], f"expected a 401 failure, got {got}"
    finally:
        set_password(DEST_PASSWORD)
    got = auto.wait_statuses("app/rekey", img.digest, BOTH_COMPLETE)
    assert got == BOTH_COMPLETE, f"the new password was not used: {got}"
    auto.assert_everywhere(img)


def test_changing_the_configuration_needs_admin_on_the_registry(env):
    add_user(env.data, "reader", "reader-pass")
    grant(env.data, "reader", "*", "pull")
    key = json.loads(cli("user", "key", "create", "reader", "--json", "--data",
                         str(env.data)).stdout)
    reader = boto3.client("ecr", endpoint_url=env.source.url, region_name=REGION,
                          aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"])
    try:
        with pytest.raises(ClientError) as err:
            reader.put_replication_configuration(replicationConfiguration={"rules": []})
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "rules" in reader.describe_registry()["replicationConfiguration"]
        img = push_image(env.source.url, "app/readable", "v1",
                         session=env.push_session("app/readable"))
        out = reader.describe_image_replication_status(repositoryName="app/readable",
                                                       imageId={"imageTag": "v1"})
        assert out["imageId"] == {"imageDigest": img.digest, "imageTag": "v1"}
    finally:
        reader.close()


def test_https_destination_is_trusted_through_its_ca_file(env, tmp_path):
    from authutil import self_signed
    cert, key = self_signed(tmp_path)
    tls = RegistryServer(tmp_path / "tls-dest", ["--tls-cert", str(cert), "--tls-key", str(key)],
                         scheme="https", verify=str(cert)).start()
    tls_dest = ("ap-east-1", "555555555555")
    try:
        env.ecr.put_replication_configuration(replicationConfiguration={"rules": [
            {"destinations": [{"region": tls_dest[0], "registryId": tls_dest[1]}],
             "repositoryFilters": [{"filter": "app/tls", "filterType": "PREFIX_MATCH"}]}]})
        img = push_image(env.source.url, "app/tls", "v1", session=env.push_session("app/tls"))
        add = ["destination", "add", "--region", tls_dest[0], "--registry-id", tls_dest[1],
               tls.url]
        env.replication(*add)
        r = env.replication("sync", "app/tls", check=False)
        assert r.returncode == 1, "a certificate no CA vouches for was trusted"
        env.replication(*add, "--ca-file", str(cert))
        r = env.replication("sync", "app/tls", check=False)
        assert r.returncode == 0, f"sync over https with --ca-file: {r.stdout} {r.stderr}"
        s = requests.Session()
        s.verify, s.trust_env = str(cert), False   # not the environment's CA bundle
        assert not pull_problems(tls.url, img, session=s)
    finally:
        tls.stop()


def test_a_deleted_image_takes_its_statuses_with_it(env):
    env.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    img = push_image(env.source.url, "app/gone", "v1", layers=(b"deleted later",),
                     session=env.push_session("app/gone"))
    env.replication("sync", "app/gone")
    assert env.statuses("app/gone", img.digest) == BOTH_COMPLETE
    s = token_session(env.source, "admin", "admin-pass", "app/gone", "pull,push,delete")
    r = s.delete(f"{env.source.url}/v2/app/gone/manifests/{img.digest}", timeout=30)
    assert r.status_code == 202, r.text
    with closing(db(env.data)) as conn:
        left = conn.execute("SELECT count(*) FROM replication_status WHERE digest = ?",
                            (img.digest,)).fetchone()[0]
    assert left == 0, f"{left} statuses outlived their image"


class SlowProxy(LocalHTTP):
    """An HTTP proxy in front of a registry that holds every request carrying a blob's bytes
    (an upload's PUT, a monolithic POST) for `delay` seconds and counts the manifest PUTs it
    forwards."""

    def __init__(self, upstream, delay):
        from http.server import BaseHTTPRequestHandler
        import http.client
        import threading
        self.manifest_puts, self.lock = [], threading.Lock()
        up = upstream.split("://", 1)[1]
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                # a blob's bytes: the PUT ending an upload, or a monolithic POST
                if "/blobs/uploads/" in self.path and (self.command == "PUT" or n > 0):
                    time.sleep(delay)
                if self.command == "PUT" and "/manifests/" in self.path:
                    with proxy.lock:
                        proxy.manifest_puts.append((time.monotonic(), self.path))
                c = http.client.HTTPConnection(up, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                c.request(self.command, self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v.replace(upstream, proxy.url))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, *args):
                pass

        self.serve(Handler)


def test_a_copy_longer_than_the_lease_keeps_it_and_is_delivered_once(tmp_path):
    """--outbox-lease-ms 1000 and a destination that takes 0.4 s per blob: the copy of an
    image with 6 layers outlasts the lease, which the worker extends between blobs, so no
    other worker takes the entry and the manifest is PUT once."""
    data = tmp_path / "source"
    add_user(data, "admin", "admin-pass")
    grant(data, "admin", "*", "*")
    key = json.loads(cli("user", "key", "create", "admin", "--json", "--data", str(data)).stdout)
    dest = RegistryServer(tmp_path / "dest").start()
    proxy = SlowProxy(dest.url, 0.4)
    source = RegistryServer(data, ["--outbox-lease-ms", "1000", "--outbox-workers", "4",
                                   "--outbox-retry-ms", "200"]).start()
    ecr = boto3.client("ecr", endpoint_url=source.url, region_name=REGION,
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"],
                       config=botocore.config.Config(retries={"total_max_attempts": 1}))
    try:
        cli("replication", "destination", "add", "--region", OCIREG_DEST[0], "--registry-id",
            OCIREG_DEST[1], proxy.url, "--data", str(data))
        ecr.put_replication_configuration(replicationConfiguration={"rules": [{
            "destinations": [{"region": OCIREG_DEST[0], "registryId": OCIREG_DEST[1]}],
            "repositoryFilters": [{"filter": "app", "filterType": "PREFIX_MATCH"}]}]})
        session = token_session(source, "admin", "admin-pass", "app/slow", "pull,push")
        started = time.monotonic()
        img = push_image(source.url, "app/slow", "v1",
                         layers=tuple(f"slow layer {i}".encode() for i in range(6)),
                         session=session)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = ecr.describe_image_replication_status(
                repositoryName="app/slow", imageId={"imageDigest": img.digest})
            got = [s["status"] for s in out["replicationStatuses"]]
            if got == ["COMPLETE"]:
                break
            time.sleep(0.1)
        assert got == ["COMPLETE"], got
        took = time.monotonic() - started
        assert took > 2, f"the copy took {took:.1f} s: not longer than the 1 s lease"
        time.sleep(1.5)   # a second worker that took the entry would PUT the manifest again
        paths = [path for _, path in proxy.manifest_puts]
        assert paths and len(paths) == len(set(paths)), \
            f"manifest PUTs {paths}: one was sent twice, the lease was lost"
        assert not pull_problems(dest.url, img)
    finally:
        ecr.close()
        source.stop()
        proxy.close()
        dest.stop()


# ---- one repository's entries go in batches: images copied 8 at once, each tag PUT once ----

class PlainPair:
    """A source (its outbox started with `workers`) replicating app/ to a second ocireg with
    no auth; blobs are files (--inline-max 0), so that a test can break one."""

    def __init__(self, root, workers, retry_ms, proxy=False):
        self.data = root / "source"
        add_user(self.data, "admin", "admin-pass")
        grant(self.data, "admin", "*", "*")
        key = json.loads(cli("user", "key", "create", "admin", "--json", "--data",
                             str(self.data)).stdout)
        self.dest = RegistryServer(root / "dest").start()
        self.source = RegistryServer(self.data, [
            "--outbox-workers", str(workers), "--outbox-retry-ms", str(retry_ms),
            "--inline-max", "0"]).start()
        self.ecr = boto3.client("ecr", endpoint_url=self.source.url, region_name=REGION,
                                aws_access_key_id=key["AccessKeyId"],
                                aws_secret_access_key=key["SecretAccessKey"],
                                config=botocore.config.Config(retries={"total_max_attempts": 1}))
        # proxy: the destination is reached through a SlowProxy (no delay) that counts PUTs
        self.proxy = SlowProxy(self.dest.url, 0) if proxy else None
        cli("replication", "destination", "add", "--region", OCIREG_DEST[0], "--registry-id",
            OCIREG_DEST[1], self.proxy.url if proxy else self.dest.url, "--data", str(self.data))
        self.ecr.put_replication_configuration(replicationConfiguration={"rules": [{
            "destinations": [{"region": OCIREG_DEST[0], "registryId": OCIREG_DEST[1]}],
            "repositoryFilters": [{"filter": "app", "filterType": "PREFIX_MATCH"}]}]})

    def stop(self):
        self.ecr.close()
        gc.collect()
        self.source.stop()
        if self.proxy:
            self.proxy.close()
        self.dest.stop()

    def status(self, repo, digest):
        out = self.ecr.describe_image_replication_status(
            repositoryName=repo, imageId={"imageDigest": digest})
        return [(s["status"], s.get("failureCode")) for s in out["replicationStatuses"]]

    def wait(self, repo, want, timeout=30):
        """Wait (bounded) until every image's status is want[digest]; returns the last seen."""
        deadline = time.monotonic() + timeout
        while True:
            got = {d: self.status(repo, d)[0][0] for d in want}
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.1)


def test_a_moved_tag_under_concurrent_pushes_ends_at_the_sources_last_digest(tmp_path):
    """8 clients push 5 images each into one repository, every one tagged `latest` too: the
    replications go in batches (images 8 at once), and `latest` at the destination ends
    where it ended at the source, with every image there."""
    import threading
    pair = PlainPair(tmp_path, workers=4, retry_ms=200)
    pushed, errors = [], []

    def client(n):
        try:
            s = token_session(pair.source, "admin", "admin-pass", "app/moved", "pull,push")
            for k in range(5):
                img = push_image(pair.source.url, "app/moved", f"c{n}-{k}",
                                 layers=(f"client {n} image {k}".encode(),), session=s)
                r = put_manifest(pair.source.url, "app/moved", "latest", img.manifest, session=s)
                assert r.status_code == 201, r.text
                pushed.append(img)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(pushed) == 40, errors
        got = pair.wait("app/moved", {img.digest: "COMPLETE" for img in pushed})
        assert set(got.values()) == {"COMPLETE"}, got
        s = token_session(pair.source, "admin", "admin-pass", "app/moved")
        source_latest = s.head(f"{pair.source.url}/v2/app/moved/manifests/latest",
                               headers={"Accept": OCI_MANIFEST}, timeout=10)
        want = source_latest.headers["Docker-Content-Digest"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:   # the status is recorded after the tag's PUT
            r = requests.head(f"{pair.dest.url}/v2/app/moved/manifests/latest",
                              headers={"Accept": OCI_MANIFEST}, timeout=10)
            if r.headers.get("Docker-Content-Digest") == want:
                break
            time.sleep(0.1)
        assert r.headers.get("Docker-Content-Digest") == want, \
            f"latest is {r.headers.get('Docker-Content-Digest')} at the destination, {want} here"
        for img in pushed[::7]:
            assert not pull_problems(pair.dest.url, img)
    finally:
        pair.stop()


def test_one_batch_puts_each_tag_once_where_it_moved_last(tmp_path):
    """Images queued while no worker runs, then delivered in one batch (copied 8 at once):
    every tag lands, each PUT once; `latest`, moved onto each image in turn and then back to
    the third, is PUT once, to the third; an image with tags and no referrers is PUT by its
    tag, not by digest too; an untagged image goes by digest; a signed image goes by digest,
    then its signature, then its tag."""
    pair = PlainPair(tmp_path, workers=0, retry_ms=60000, proxy=True)
    url = pair.source.url
    try:
        s = token_session(pair.source, "admin", "admin-pass", "app/tags", "pull,push")
        imgs = []
        for i in range(5):
            imgs.append(push_image(url, "app/tags", f"v{i}", layers=(f"tags {i}".encode(),),
                                   session=s))
            assert put_manifest(url, "app/tags", "latest", imgs[i].manifest,
                                session=s).status_code == 201
        for tag, img in (("stable", imgs[1]), ("latest", imgs[2])):
            assert put_manifest(url, "app/tags", tag, img.manifest, session=s).status_code == 201
        loose = push_image(url, "app/tags", None, layers=(b"untagged",), session=s)
        signed = push_image(url, "app/tags", "signed", layers=(b"signed",), session=s)
        sig = push_image(url, "app/tags", None, layers=(b"signature",), subject=signed,
                         artifact_type="application/vnd.example.signature", session=s)
        pair.source.extra_args[1] = "1"   # --outbox-workers 1: one claim takes them all
        pair.source.restart()
        want = {img.digest: "COMPLETE" for img in (*imgs, loose, signed, sig)}
        got = pair.wait("app/tags", want)
        assert got == want, got
        expect = {**{f"v{i}": imgs[i] for i in range(5)}, "stable": imgs[1],
                  "latest": imgs[2], "signed": signed}
        for tag, img in expect.items():
            r = requests.head(f"{pair.dest.url}/v2/app/tags/manifests/{tag}",
                              headers={"Accept": OCI_MANIFEST}, timeout=10)
            assert r.headers.get("Docker-Content-Digest") == img.digest, \
                f"{tag} is {r.headers.get('Docker-Content-Digest')} at the destination"
        assert not pull_problems(pair.dest.url, loose, loose.digest)
        puts = [path.rsplit("/", 1)[1] for _, path in pair.proxy.manifest_puts]
        by_tag = sorted(p for p in puts if not p.startswith("sha256:"))
        assert by_tag == sorted(expect), f"tags PUT {by_tag}: each once expected"
        by_digest = {p for p in puts if p.startswith("sha256:")}
        assert by_digest <= {loose.digest, signed.digest, sig.digest}, \
            f"manifests PUT by digest {by_digest}: a tagged image had a PUT by digest too"
        assert puts.index(signed.digest) < puts.index("signed") and \
            puts.index(sig.digest) < puts.index("signed"), \
            f"the signed image's tag went before the image or its signature: {puts}"
    finally:
        pair.stop()


def test_one_failing_image_of_a_batch_fails_alone(tmp_path):
    """Six images queued while no worker runs, the third with a layer missing from the blob
    store: one batch delivers them; the third is FAILED, the others (those after it too)
    COMPLETE, and its entry alone waits for its retry."""
    pair = PlainPair(tmp_path, workers=0, retry_ms=60000)
    try:
        s = token_session(pair.source, "admin", "admin-pass", "app/batch", "pull,push")
        imgs = [push_image(pair.source.url, "app/batch", f"v{i}", layers=(f"batch {i}".encode(),),
                           session=s) for i in range(6)]
        os.unlink(blob_path(str(pair.data), imgs[2].layers[0]))
        pair.source.extra_args[1] = "1"   # --outbox-workers 1: one claim takes them all
        pair.source.restart()
        want = {img.digest: "COMPLETE" for img in imgs}
        want[imgs[2].digest] = "FAILED"
        got = pair.wait("app/batch", want)
        assert got == want, f"expected only the broken image FAILED, got {got}"
        status, reason = pair.status("app/batch", imgs[2].digest)[0]
        assert status == "FAILED" and reason, reason
        for i in (0, 1, 3, 4, 5):
            assert not pull_problems(pair.dest.url, imgs[i], f"v{i}")
    finally:
        pair.stop()
