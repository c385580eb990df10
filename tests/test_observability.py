"""Observability: /healthz, /readyz, Prometheus /metrics (parsed; counters move with requests),
JSON access-log lines without secrets, last-pull times recorded in batches, POST /admin/gc."""
import hashlib
import json
import re
import time

import requests

from authutil import add_user, bearer, cli, grant, token
from regutil import push_image

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf|NaN)$')


def scrape(url):
    r = requests.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def test_health_and_readiness(registry):
    assert requests.get(f"{registry.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{registry.url}/readyz", timeout=10).json() == {"status": "ready"}


def test_metrics_counters_move(registry_factory):
    server = registry_factory()
    before = scrape(server.url)
    for _ in range(3):
        requests.get(f"{server.url}/v2/", timeout=10)
    requests.get(f"{server.url}/v2/no/such/manifests/x", timeout=10)
    blob = b"metrics-blob"
    d = "sha256:" + hashlib.sha256(blob).hexdigest()
    r = requests.post(f"{server.url}/v2/m/r/blobs/uploads/?digest={d}", data=blob, timeout=10)
    assert r.status_code == 201, r.text
    # A request is counted when libmicrohttpd reports it complete, which may be just after the
    # client has its answer: wait (bounded) for the last one to show.
    posted = 'ocireg_http_requests_total{method="POST",route="upload",status="201"}'
    deadline = time.monotonic() + 5
    while posted not in (after := scrape(server.url)) and time.monotonic() < deadline:
        time.sleep(0.05)
    key = 'ocireg_http_requests_total{method="GET",route="base",status="200"}'
    assert after[key] - before.get(key, 0) == 3
    assert after['ocireg_http_requests_total{method="GET",route="manifest",status="404"}'] >= 1
    assert after[posted] == 1
    assert after["ocireg_http_bytes_received_total"] >= len(blob)
    assert after["ocireg_storage_bytes"] == len(blob)
    assert after['ocireg_http_request_duration_seconds_count{route="base"}'] >= 3
    assert 'ocireg_http_request_duration_seconds_bucket{route="base",le="+Inf"}' in after
    assert after["ocireg_resident_memory_bytes"] > 0
    assert "ocireg_uploads_in_progress" in after and "ocireg_gc_runs_total" in after


def test_every_histogram_series_is_complete(registry):
    """Each route's latency histogram has all its buckets, +Inf, _sum and _count (Prometheus
    rejects a histogram without them), also for a route that has seen no request."""
    samples = scrape(registry.url)
    prefix = "ocireg_http_request_duration_seconds"
    routes = {re.search(r'route="([^"]+)"', k).group(1) for k in samples
              if k.startswith(prefix + "_bucket")}
    assert "admin_gc" in routes  # no request went there
    for route in routes:
        buckets = {re.search(r'le="([^"]+)"', k).group(1): v for k, v in samples.items()
                   if k.startswith(f'{prefix}_bucket{{route="{route}",')}
        assert "+Inf" in buckets, route
        assert f'{prefix}_sum{{route="{route}"}}' in samples, route
        count = samples[f'{prefix}_count{{route="{route}"}}']
        assert count == buckets["+Inf"], route
        finite = [buckets[le] for le in sorted((le for le in buckets if le != "+Inf"), key=float)]
        assert finite == sorted(finite) and (not finite or finite[-1] <= count), route


def test_access_log_lines_are_json(registry_factory):
    server = registry_factory()
    requests.get(f"{server.url}/v2/x/y/tags/list", timeout=10)
    server.stop()
    lines = [json.loads(l) for l in open(server.log_path) if l.startswith("{")]
    entry = [l for l in lines if l["path"] == "/v2/x/y/tags/list"][-1]
    assert entry["status"] == 404 and entry["method"] == "GET" and entry["client"] == "127.0.0.1"
    assert {"time", "principal", "bytes_in", "bytes_out", "duration_ms"} <= set(entry)


def test_last_pull_time_is_recorded(registry_factory, tmp_path):
    server = registry_factory(data_dir=tmp_path / "d")
    push_image(server.url, "pulls/app", "v1")
    assert requests.get(f"{server.url}/v2/pulls/app/manifests/v1", timeout=10).status_code == 200
    server.stop()  # pull times are flushed at shutdown (and every 30 s)
    images = json.loads(cli("image", "list", "pulls/app", "--json", "--data", server.data).stdout)
    assert images[0]["last_pulled_at"], f"last_pulled_at not recorded: {images}"


def test_admin_gc_needs_registry_admin(registry_factory, tmp_path):
    data = tmp_path / "adm"
    add_user(data, "root", "root-pass")
    add_user(data, "dev", "dev-pass")
    grant(data, "root", "*", "admin")
    grant(data, "dev", "team/*", "pull,push,delete")
    server = registry_factory(data_dir=data)
    dev = token(server.url, ["registry:admin:*"], "dev", "dev-pass")
    r = requests.post(f"{server.url}/admin/gc?dry_run=true", headers=bearer(dev), timeout=30)
    assert r.status_code == 401
    root = token(server.url, ["registry:admin:*"], "root", "root-pass")
    r = requests.post(f"{server.url}/admin/gc?dry_run=true&grace=0", headers=bearer(root),
                      timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["blobs_deleted"] == 0
