"""The whole conformance suite again, against a server with authentication on: every request
goes through the Docker token flow (challenge, /token with Basic credentials, bearer retry)."""
import os
import subprocess
import sys

from authutil import add_user, grant
from ocireg_harness import ROOT


def test_conformance_suite_passes_with_auth_on(registry_factory, tmp_path):
    data = tmp_path / "authdata"
    add_user(data, "conformance", "conformance-pass")
    grant(data, "conformance", "*", "*")
    server = registry_factory(data_dir=data)
    env = dict(os.environ, OCIREG_URL=server.url, OCIREG_USER="conformance",
               OCIREG_PASSWORD="conformance-pass")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           os.path.join(ROOT, "conformance")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert proc.returncode == 0, f"conformance with auth on: {summary}\n{proc.stdout[-3000:]}"
    log = open(server.log_path).read()
    assert '"auth":"allowed"' in log and "auth: denied" in log, \
        "requests were challenged and then allowed with tokens"
