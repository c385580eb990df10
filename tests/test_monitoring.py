"""Monitoring out of the box (docs/monitoring/): the alerting rules pass `promtool check rules`
and their own `promtool test rules` cases; a scrape of /metrics after traffic passes `promtool
check metrics`; the Grafana dashboard and the rules ask only for metrics /metrics exports; the
gauges the alerts need (free disk, gc failures and last success) tell the truth."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from regutil import push_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONITORING = os.path.join(ROOT, "docs", "monitoring")
RULES = os.path.join(MONITORING, "ocireg-alerts.yml")
RULE_TESTS = os.path.join(MONITORING, "ocireg-alerts.test.yml")
DASHBOARD = os.path.join(MONITORING, "ocireg-dashboard.json")
# Metrics a rule or panel may name before ocireg exports them: the outbox's (another change
# adds them) and Prometheus' own `up`.
NOT_YET_EXPORTED = re.compile(r"^(ocireg_outbox_\w+|up)$")
METRIC = re.compile(r"\b(ocireg_[a-z0-9_]+|up)\b")


def promtool(*args, stdin=None):
    exe = shutil.which("promtool")
    if not exe:
        pytest.fail("promtool not found: install the Debian package 'prometheus' "
                    "(scripts/deps.sh test)", pytrace=False)
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=MONITORING)


def scrape_text(url):
    r = requests.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def samples(text):
    """{name{labels}: value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def exported_names(text):
    """Every sample name of an exposition (histograms: _bucket, _sum, _count)."""
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def traffic(url):
    """Pushes, pulls, a miss, a gc: every route family the dashboard shows sees a request."""
    img = push_image(url, "monitoring/app", "v1", layers=(b"monitoring layer",))
    assert requests.get(f"{url}/v2/monitoring/app/manifests/v1", timeout=10,
                        headers={"Accept": img.media_type}).status_code == 200
    for digest in img.blobs:
        assert requests.get(f"{url}/v2/monitoring/app/blobs/{digest}", timeout=10).ok
    assert requests.get(f"{url}/v2/monitoring/app/tags/list", timeout=10).ok
    assert requests.get(f"{url}/v2/monitoring/none/manifests/v1", timeout=10).status_code == 404
    assert requests.post(f"{url}/admin/gc", timeout=60).status_code == 200


def expressions_of_dashboard(dashboard):
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def test_alert_rules_pass_promtool_check_rules():
    out = promtool("check", "rules", RULES)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_each_alert_fires_on_its_unit_test_series_and_not_before():
    out = promtool("test", "rules", RULE_TESTS)
    assert out.returncode == 0, out.stdout + out.stderr
    with open(RULES) as f:
        alerts = set(re.findall(r"^\s*- alert: (\w+)$", f.read(), re.M))
    with open(RULE_TESTS) as f:
        tested = set(re.findall(r"^\s*alertname: (\w+)$", f.read(), re.M))
    assert alerts and alerts == tested, f"alerts without a test: {alerts - tested}"


def test_scrape_after_traffic_passes_promtool_check_metrics(registry_factory):
    srv = registry_factory(["--gc-interval", "6h"])
    traffic(srv.url)
    text = scrape_text(srv.url)
    out = promtool("check", "metrics", stdin=text)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), \
        out.stdout + out.stderr
    assert samples(text)["ocireg_gc_interval_seconds"] == 6 * 3600


def test_dashboard_and_rules_name_only_exported_metrics(registry_factory):
    srv = registry_factory()
    traffic(srv.url)
    exported = exported_names(scrape_text(srv.url))
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    panel_ids = [p["id"] for p in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids)), "panel ids repeat"
    assert all(p.get("targets") for p in dashboard["panels"]), "a panel without a query"
    with open(RULES) as f:
        rules = f.read()
    sources = {"dashboard": " ".join(expressions_of_dashboard(dashboard)), "alert rules": rules}
    for what, text in sources.items():
        named = set(METRIC.findall(text))
        assert len(named) > 5, f"{what}: too few metrics found ({named})"
        unknown = {n for n in named if n not in exported and not NOT_YET_EXPORTED.match(n)}
        assert not unknown, f"{what} name metrics /metrics does not export: {sorted(unknown)}"
    # Every family the server exports is on the dashboard (outbox panels come with the outbox).
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported}
    shown = {re.sub(r"_(bucket|sum|count)$", "", n)
             for n in METRIC.findall(sources["dashboard"])}
    assert not families - shown, f"exported but on no panel: {sorted(families - shown)}"


def test_data_free_bytes_is_the_data_folder_file_system(registry_factory):
    srv = registry_factory()
    got = samples(scrape_text(srv.url))
    fs = os.statvfs(srv.data)
    size, free = fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize
    assert got["ocireg_data_size_bytes"] == size
    assert abs(got["ocireg_data_free_bytes"] - free) <= max(64 << 20, size // 100), (got, free)
    assert 0 < got["ocireg_data_free_bytes"] <= got["ocireg_data_size_bytes"]


def test_gc_failure_counts_and_success_stamps_the_time(registry_factory):
    srv = registry_factory()
    before = samples(scrape_text(srv.url))
    assert before["ocireg_gc_failures_total"] == 0
    assert before["ocireg_gc_last_success_timestamp_seconds"] == 0
    # A file where gc expects a folder of blobs: the orphan walk fails, so gc does.
    blocker = os.path.join(srv.data, "blobs", "sha256", "00")
    os.makedirs(os.path.dirname(blocker), exist_ok=True)
    shutil.rmtree(blocker, ignore_errors=True)
    with open(blocker, "w") as f:
        f.write("not a folder")
    assert requests.post(f"{srv.url}/admin/gc", timeout=60).status_code >= 500
    failed = samples(scrape_text(srv.url))
    assert failed["ocireg_gc_failures_total"] == 1
    assert failed["ocireg_gc_last_success_timestamp_seconds"] == 0

    os.remove(blocker)
    started = int(time.time())
    assert requests.post(f"{srv.url}/admin/gc", timeout=60).status_code == 200
    after = samples(scrape_text(srv.url))
    assert after["ocireg_gc_failures_total"] == 1
    assert started <= after["ocireg_gc_last_success_timestamp_seconds"] <= time.time() + 1
