"""Webhooks from the durable outbox: a receiver in the test (http.server on 127.0.0.1) checks
EventBridge's "ECR Image Action" envelope, the HMAC-SHA256 signature, repository-prefix and
event filters, commit order per repository, the retry schedule while it answers 500 (the
server runs with a short --outbox-retry-ms), parking after --outbox-max-attempts and
`ocireg webhook redeliver`, bounded deliveries per target, and that a SIGKILL in the middle of
pushes loses no event of an acknowledged push."""
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from regutil import delete_tag, ocireg, push_image, server_log
from upstreams import LocalHTTP

SECRET = "s3cr3t-for-signing"
PASSWORD = "hunter2-receiver-password"
RETRY_MS = 100
REGISTRY_ID = "123456789012"
REGION = "eu-west-1"


class Receiver(LocalHTTP):
    """An HTTP receiver: records every POST; answers 500 to a path while it owes failures."""

    def __init__(self):
        self.lock = threading.Lock()
        self.posts = []        # dicts: path, headers, body, t, status
        self.failures = {}     # path -> 500s still to answer (-1: always)
        self.delay = 0.0
        self.active = 0
        self.max_active = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.active += 1
                    receiver.max_active = max(receiver.max_active, receiver.active)
                    owed = receiver.failures.get(self.path, 0)
                    if owed > 0:
                        receiver.failures[self.path] = owed - 1
                status = 500 if owed else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.active -= 1
                    receiver.posts.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body, "t": time.monotonic(),
                                           "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.serve(Handler)

    def received(self, path, status=200):
        with self.lock:
            return [p for p in self.posts if p["path"] == path and p["status"] == status]

    def events(self, path):
        return [json.loads(p["body"]) for p in self.received(path)]

    def wait(self, what, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        with self.lock:
            seen = [(p["path"], p["status"], p["body"][:200]) for p in self.posts]
        pytest.fail(f"timed out after {timeout} s waiting for {what}; received: {seen[-10:]}")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def serve(registry_factory, *args):
    return registry_factory(extra_args=["--outbox-retry-ms", str(RETRY_MS),
                                        "--registry-id", REGISTRY_ID, "--region", REGION,
                                        *args])


def add_webhook(srv, name, url, *args, secret=None):
    extra = ["--secret-stdin"] if secret else []
    ocireg("webhook", "add", name, url, *args, *extra, "--data", srv.data,
           stdin=(secret + "\n") if secret else None)


def deliveries(srv, name, *args):
    return json.loads(ocireg("webhook", "deliveries", name, *args, "--json", "--data",
                             srv.data).stdout)


def test_push_and_delete_events_carry_the_envelope_and_signature(registry_factory, receiver):
    srv = serve(registry_factory)
    add_webhook(srv, "all", receiver.url + "/all", secret=SECRET)
    add_webhook(srv, "app-deletes",
                receiver.url.replace("http://", f"http://ci:{PASSWORD}@") + "/app",
                "--events", "delete", "--repository-prefix", "app/")
    img = push_image(srv.url, "app/web", "v1")
    push_image(srv.url, "other/db", "v1")
    delete_tag(srv.url, "app/web", "v1")
    receiver.wait("3 events at /all and 1 at /app",
                  lambda: len(receiver.received("/all")) >= 3 and receiver.received("/app"))

    posts = receiver.received("/all")
    push = next(e for e in receiver.events("/all")
                if e["detail"]["repository-name"] == "app/web")
    assert push["version"] == "0" and push["source"] == "aws.ecr"
    assert push["detail-type"] == "ECR Image Action"
    assert push["account"] == REGISTRY_ID and push["region"] == REGION
    assert push["resources"] == [f"arn:aws:ecr:{REGION}:{REGISTRY_ID}:repository/app/web"]
    assert time.strptime(push["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert push["detail"] == {"result": "SUCCESS", "repository-name": "app/web",
                              "action-type": "PUSH", "image-digest": img.digest,
                              "image-tag": "v1"}
    for p in posts:
        event = json.loads(p["body"])
        assert p["headers"]["X-Ocireg-Event-Id"] == event["id"]
        expected = "sha256=" + hmac.new(SECRET.encode(), p["body"], hashlib.sha256).hexdigest()
        assert p["headers"]["X-Ocireg-Signature"] == expected, "signature of the exact body"
        assert p["headers"]["Content-Type"] == "application/json"
    actions = [(e["detail"]["repository-name"], e["detail"]["action-type"])
               for e in receiver.events("/all")]
    assert sorted(actions) == [("app/web", "DELETE"), ("app/web", "PUSH"), ("other/db", "PUSH")]
    assert [a for a in actions if a[0] == "app/web"] == [("app/web", "PUSH"),
                                                         ("app/web", "DELETE")], "commit order"

    # The filtered webhook: only the delete under app/, unsigned, with the URL's credentials.
    app = receiver.received("/app")
    assert len(app) == 1 and "X-Ocireg-Signature" not in app[0]["headers"]
    assert json.loads(app[0]["body"])["detail"]["action-type"] == "DELETE"
    basic = base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
    assert app[0]["headers"].get("Authorization") == f"Basic {basic}"

    listed = ocireg("webhook", "list", "--json", "--data", srv.data).stdout
    assert PASSWORD not in listed and SECRET not in listed
    assert PASSWORD not in server_log(srv, 10**6) and SECRET not in server_log(srv, 10**6)
    done = deliveries(srv, "all")
    assert [d["state"] for d in done] == ["done"] * 3, done
    assert done[0]["action"] == "DELETE", "newest first"


def test_retries_keep_commit_order_and_back_off(registry_factory, receiver):
    srv = serve(registry_factory)
    add_webhook(srv, "flaky", receiver.url + "/flaky")
    receiver.failures["/flaky"] = 4
    tags = [f"t{i}" for i in range(5)]
    for tag in tags:
        push_image(srv.url, "ordered", tag)
    receiver.wait("5 delivered events", lambda: len(receiver.received("/flaky")) == 5)

    delivered = [e["detail"]["image-tag"] for e in receiver.events("/flaky")]
    assert delivered == tags, "events of one repository arrive in commit order"
    with receiver.lock:
        tries = [p for p in receiver.posts if p["path"] == "/flaky"]
    first = json.loads(tries[0]["body"])["id"]
    assert [json.loads(p["body"])["id"] for p in tries[:5]] == [first] * 5, \
        "the first event is retried, with the same id, before any later one is sent"
    gaps = [(b["t"] - a["t"]) * 1000 for a, b in zip(tries, tries[1:5])]
    for k, gap in enumerate(gaps):
        least = RETRY_MS * 2 ** k / 2   # the wait is in [d/2, d], d doubling from RETRY_MS
        assert gap >= least * 0.9, f"wait before attempt {k + 2} was {gap:.0f} ms, " \
                                   f"expected at least {least:.0f} (gaps {gaps})"
    most = RETRY_MS * (1 + 2 + 4 + 8)
    assert sum(gaps) < most + 1000, f"retries waited {sum(gaps):.0f} ms in all, expected at " \
                                    f"most {most} (+ slack): a due retry wakes a worker"

    def outbox_metrics():
        metrics = requests.get(srv.url + "/metrics", timeout=10).text
        return {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
                if line.startswith("ocireg_outbox_")}

    # the receiver has the last POST a moment before the worker marks its entry done
    receiver.wait("an empty outbox", lambda: outbox_metrics()["ocireg_outbox_depth"] == 0)
    values = outbox_metrics()
    assert values["ocireg_outbox_deliveries_total"] >= 5
    assert values["ocireg_outbox_failures_total"] >= 4


def test_parked_after_max_attempts_then_redelivered(registry_factory, receiver):
    srv = serve(registry_factory, "--outbox-max-attempts", "3")
    add_webhook(srv, "down", receiver.url + "/down")
    receiver.failures["/down"] = -1
    push_image(srv.url, "parked", "v1")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not deliveries(srv, "down", "--failed"):
        time.sleep(0.1)
    parked = deliveries(srv, "down", "--failed")
    assert len(parked) == 1 and parked[0]["state"] == "parked", parked
    assert parked[0]["attempts"] == 3 and "500" in parked[0]["lastError"]
    assert len(receiver.received("/down", 500)) == 3, "exactly --outbox-max-attempts tries"
    assert "(webhook down, parked) parked after 3 attempts" in server_log(srv, 10**6)

    receiver.failures["/down"] = 0
    time.sleep(RETRY_MS * 4 / 1000)
    assert receiver.received("/down") == [], "a parked event is not sent again by itself"
    out = ocireg("webhook", "redeliver", "down", "--data", srv.data).stdout
    assert "1 deliveries queued again" in out
    receiver.wait("the redelivered event", lambda: receiver.received("/down"))
    assert receiver.events("/down")[0]["id"] == parked[0]["eventId"]
    receiver.wait("the delivery marked done",
                  lambda: deliveries(srv, "down")[0]["state"] == "done")


def test_one_target_gets_at_most_target_concurrency_deliveries(registry_factory, receiver):
    srv = serve(registry_factory, "--outbox-workers", "4", "--outbox-target-concurrency", "1")
    add_webhook(srv, "slow", receiver.url + "/slow")
    receiver.delay = 0.25
    for k in range(4):
        push_image(srv.url, f"parallel{k}", "v1")
    receiver.wait("4 events", lambda: len(receiver.received("/slow")) == 4)
    assert receiver.max_active == 1, f"{receiver.max_active} deliveries at once to one webhook"


def test_a_receiver_slower_than_the_webhook_timeout_is_retried(registry_factory, receiver):
    """--webhook-timeout-ms (shortened from 10 s to 200 ms): a receiver that takes 600 ms
    fails the attempt, which is retried with the same event id until the receiver is quick."""
    srv = serve(registry_factory, "--webhook-timeout-ms", "200")
    add_webhook(srv, "slow", receiver.url + "/slow")
    receiver.delay = 0.6
    push_image(srv.url, "slow/app", "v1")
    receiver.wait("two attempts cut by the timeout", lambda: len(receiver.received("/slow")) >= 2,
                  timeout=10)
    receiver.delay = 0
    receiver.wait("the delivery marked done",
                  lambda: deliveries(srv, "slow")[0]["state"] == "done", timeout=10)
    done = deliveries(srv, "slow")[0]
    assert done["attempts"] >= 3, f"the slow attempts counted as failures: {done}"
    ids = {e["id"] for e in receiver.events("/slow")}
    assert ids == {done["eventId"]}, f"every attempt carries the event's id, got {ids}"
    metrics = requests.get(srv.url + "/metrics", timeout=10).text
    failed = [float(line.split()[1]) for line in metrics.splitlines()
              if line.startswith("ocireg_outbox_failures_total")]
    assert failed and failed[0] >= 2, metrics


def test_webhook_test_command_posts_a_sample_event(registry_factory, receiver):
    srv = serve(registry_factory)
    add_webhook(srv, "probe", receiver.url + "/probe", secret=SECRET)
    out = ocireg("webhook", "test", "probe", "--data", srv.data).stdout
    assert "delivered: HTTP 200" in out
    event = receiver.events("/probe")[0]
    assert event["detail"]["repository-name"] == "ocireg-webhook-test"
    receiver.failures["/probe"] = 1
    proc = ocireg("webhook", "test", "probe", "--data", srv.data, check=False)
    assert proc.returncode == 1 and "HTTP 500" in proc.stderr


def test_ecr_put_image_batch_delete_and_gc_expiry_send_events(tmp_path, receiver):
    """PutImage and BatchDeleteImage (ECR API), and gc's --untagged expiry (another process)."""
    import boto3
    from botocore.config import Config
    from authutil import add_user, grant
    from ocireg_harness import RegistryServer
    data = tmp_path / "ecr"
    add_user(data, "admin", "admin-pass")
    grant(data, "admin", "*", "*")
    key = json.loads(ocireg("user", "key", "create", "admin", "--json", "--data", data).stdout)
    srv = RegistryServer(data, ["--outbox-retry-ms", str(RETRY_MS)]).start()
    try:
        add_webhook(srv, "ecr", receiver.url + "/ecr")
        client = boto3.client("ecr", endpoint_url=srv.url, region_name="us-east-1",
                              aws_access_key_id=key["AccessKeyId"],
                              aws_secret_access_key=key["SecretAccessKey"],
                              config=Config(retries={"max_attempts": 1}))
        token = requests.get(f"{srv.url}/token", auth=("admin", "admin-pass"), timeout=30,
                             params={"service": "ocireg",
                                     "scope": "repository:ecr/app:pull,push,delete"}).json()
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + token["token"]
        tagged = push_image(srv.url, "ecr/app", None, layers=(b"a",), session=session)
        loose = push_image(srv.url, "ecr/app", None, layers=(b"b",), session=session)
        client.put_image(repositoryName="ecr/app", imageManifest=tagged.manifest.decode(),
                         imageTag="v1")
        client.batch_delete_image(repositoryName="ecr/app", imageIds=[{"imageTag": "v1"}])
        ocireg("gc", "--untagged", "--grace", "0", "--data", data)
        wanted = {("PUSH", "v1", tagged.digest), ("DELETE", "v1", tagged.digest),
                  ("DELETE", None, loose.digest)}

        def seen():
            return {(e["detail"]["action-type"], e["detail"].get("image-tag"),
                     e["detail"]["image-digest"]) for e in receiver.events("/ecr")}
        receiver.wait(f"events {wanted}", lambda: wanted <= seen())
        session.close()  # kept-alive connections would hold the stop for its grace
        client.close()
    finally:
        srv.stop()


def test_webhook_add_refuses_what_it_cannot_keep(tmp_path):
    data = str(tmp_path / "data")
    ocireg("webhook", "add", "ok", "http://127.0.0.1:9/x", "--data", data)
    refused = [
        (["bad name", "http://127.0.0.1:9/"], None, "name"),
        (["n" * 65, "http://127.0.0.1:9/"], None, "name"),
        (["n" * 64, "ftp://127.0.0.1/"], None, "http"),
        (["a", "http://127.0.0.1:9/", "--events", "push,pull"], None, "unknown event"),
        (["a", "http://127.0.0.1:9/", "--repository-prefix", "p" * 257], None, "prefix"),
        (["a", "http://127.0.0.1:9/", "--secret-stdin"], "s" * 257 + "\n", "secret"),
    ]
    for args, stdin, why in refused:
        proc = ocireg("webhook", "add", *args, "--data", data, stdin=stdin, check=False)
        assert proc.returncode == 2 and why in proc.stderr, (args, proc.returncode, proc.stderr)
    ocireg("webhook", "add", "n" * 64, "http://127.0.0.1:9/", "--secret-stdin", "--data", data,
           stdin="s" * 256 + "\n")
    proc = ocireg("webhook", "add", "ok", "http://127.0.0.1:9/y", "--data", data, check=False)
    assert proc.returncode == 1 and "exists" in proc.stderr
    names = [w["name"] for w in json.loads(ocireg("webhook", "list", "--json", "--data",
                                                  data).stdout)]
    assert names == ["n" * 64, "ok"]
    ocireg("webhook", "delete", "ok", "--data", data)
    proc = ocireg("webhook", "delete", "ok", "--data", data, check=False)
    assert proc.returncode == 1 and "no webhook named ok" in proc.stderr


def test_sigkill_during_pushes_loses_no_event(registry_factory, receiver):
    srv = serve(registry_factory)
    add_webhook(srv, "crash", receiver.url + "/crash")
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def pusher(k):
        for i in range(13):
            if stop.is_set():
                return
            try:
                img = push_image(srv.url, f"crash/r{k}", f"t{i}")
            except (requests.RequestException, AssertionError):
                return
            with lock:
                acked.append((img.repo, img.tag, img.digest))

    threads = [threading.Thread(target=pusher, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(acked) < 25:
        time.sleep(0.01)
    srv.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 25, f"only {len(acked)} pushes were acknowledged before the kill"
    srv.start()

    def seen():
        return {(e["detail"]["repository-name"], e["detail"]["image-tag"],
                 e["detail"]["image-digest"]) for e in receiver.events("/crash")}
    receiver.wait(f"an event for each of {len(acked)} acknowledged pushes",
                  lambda: set(acked) <= seen(), timeout=30)
    ids = {}
    for e in receiver.events("/crash"):
        key = (e["detail"]["repository-name"], e["detail"]["image-tag"])
        ids.setdefault(key, set()).add(e["id"])
    assert all(len(v) == 1 for v in ids.values()), "a duplicate delivery keeps the event's id"


def test_two_instances_on_postgresql_deliver_each_event_once(postgres, receiver, tmp_path):
    """Both instances deliver from one PostgreSQL outbox; leases let one send each entry."""
    from ocireg_harness import RegistryServer
    url = postgres.new_database("webhooks")
    servers = [RegistryServer(tmp_path / f"pg{i}", ["--index", url, "--outbox-retry-ms",
                                                    str(RETRY_MS)]) for i in range(2)]
    try:
        for s in servers:
            s.start()
        ocireg("webhook", "add", "shared", receiver.url + "/shared", "--index", url,
               "--data", servers[0].data)
        receiver.delay = 0.05
        pushed = [push_image(servers[i % 2].url, f"pg/r{i % 3}", f"t{i}") for i in range(12)]
        receiver.wait("12 events", lambda: len(receiver.received("/shared")) >= 12)
        time.sleep(0.5)
        events = receiver.events("/shared")
        assert len(events) == 12, "each event delivered once, by one instance"
        assert {e["detail"]["image-digest"] for e in events} == {p.digest for p in pushed}
        for r in range(3):
            tags = [e["detail"]["image-tag"] for e in events
                    if e["detail"]["repository-name"] == f"pg/r{r}"]
            assert tags == [f"t{i}" for i in range(12) if i % 3 == r], "commit order"
    finally:
        for s in servers:
            s.stop()
