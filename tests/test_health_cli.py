"""`ocireg health`, the container image's HEALTHCHECK: exit 0 when /readyz answers 200, 1 when
the server is down or answers otherwise; without --url it finds the server from the same
OCIREG_* settings `serve` reads (a wildcard listen address asked on loopback, https with a
certificate), and --url verifies TLS unless --insecure."""
import os
import subprocess

from ocireg_harness import free_port, ocireg_binary
from test_auth_proxy import self_signed


def health(*args, env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("OCIREG_")}
    full.update(env or {})
    return subprocess.run([ocireg_binary(), "health", *args], capture_output=True, text=True,
                          env=full, timeout=30)


def test_health_finds_the_server_from_its_listen_setting(registry_factory):
    srv = registry_factory()
    ok = health(env={"OCIREG_LISTEN": srv.host})
    assert ok.returncode == 0, ok.stderr
    wildcard = health(env={"OCIREG_LISTEN": f"0.0.0.0:{srv.port}"})
    assert wildcard.returncode == 0, wildcard.stderr


def test_health_fails_when_nothing_listens_or_the_answer_is_not_200(registry_factory):
    port = free_port()
    down = health(env={"OCIREG_LISTEN": f"127.0.0.1:{port}"})
    assert down.returncode == 1 and f"127.0.0.1:{port}/readyz" in down.stderr, down.stderr
    srv = registry_factory()
    missing = health("--url", f"{srv.url}/no-such-path")
    assert missing.returncode == 1 and "HTTP status 404" in missing.stderr, missing.stderr


def test_health_reads_the_config_file_and_speaks_tls(registry_factory, tmp_path):
    cert, key = self_signed(tmp_path)
    srv = registry_factory(["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https",
                           verify=str(cert))
    config = tmp_path / "serve.json"
    config.write_text(f'{{"listen": "{srv.host}", "tls-cert": "{cert}", "tls-key": "{key}"}}')
    derived = health(env={"OCIREG_CONFIG": str(config)})
    assert derived.returncode == 0, derived.stderr
    untrusted = health("--url", f"https://{srv.host}/readyz")
    assert untrusted.returncode == 1, untrusted.stderr
    insecure = health("--url", f"https://{srv.host}/readyz", "--insecure")
    assert insecure.returncode == 0, insecure.stderr


def test_health_refuses_bad_arguments():
    assert health("--timeout", "0").returncode == 2
    assert health("--timeout", "5x").returncode == 2
    assert health("extra").returncode == 2
    assert health(env={"OCIREG_LISTEN": "no-port"}).returncode == 2
