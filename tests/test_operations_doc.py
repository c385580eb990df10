"""docs/OPERATIONS.md is a runbook whose commands work: every `ocireg SUBCOMMAND --flag` and
every OCIREG_* variable it cites exists in the binary's help, and its nginx example, run as
written (ports, certificate paths and upstream swapped for the test's), proxies a push and a
pull over TLS and keeps /metrics from outside addresses."""
import os
import re
import subprocess

import pytest
import requests

from ocireg_harness import ROOT, ocireg_binary
from authutil import nginx_tls
from regutil import push_image

RUNBOOK = os.path.join(ROOT, "docs", "OPERATIONS.md")


def runbook():
    with open(RUNBOOK) as f:
        return f.read()


def help_text(*args):
    out = subprocess.run([ocireg_binary(), *args, "--help"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout + out.stderr


def subcommands():
    return set(re.findall(r"^  ([a-z]+) ", help_text().split("Commands:")[1].split("Options:")[0],
                          re.M))


def code_of(text):
    """The runbook's code: indented block lines (without their # comments) and `inline` spans."""
    lines = [re.sub(r"\s#.*$", "", line) for line in text.splitlines() if line.startswith("    ")]
    return lines + re.findall(r"`([^`]+)`", text)


def cited_commands(text):
    """(subcommand, [flags]) of each `ocireg SUB ...` in the runbook's code; an image reference
    (ocireg:VERSION) runs the binary as its entrypoint."""
    for code in code_of(text):
        for m in re.finditer(r"(?:^|[\s(/])ocireg(?::VERSION)? (?!ocireg )([a-z]+)\b([^|;&]*)", code):
            yield m.group(1), re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", m.group(2))


def test_runbook_cites_only_real_subcommands_and_their_flags():
    text = runbook()
    known = subcommands()
    cited = list(cited_commands(text))
    assert len({c for c, _ in cited}) >= 10, f"too few commands found: {cited}"
    helps = {}
    for command, flags in cited:
        assert command in known, \
            f"OPERATIONS.md cites `ocireg {command}`, which `ocireg --help` does not list"
        helps.setdefault(command, help_text(command))
        for flag in flags:
            assert flag in helps[command], f"`ocireg {command} {flag}`: no such flag in its --help"


def test_runbook_names_only_real_settings_variables():
    settings = set(re.findall(r"^  --([a-z-]+)", help_text("serve"), re.M)) - {"config"}
    variables = {"OCIREG_" + s.upper().replace("-", "_") for s in settings} | {"OCIREG_CONFIG"}
    cited = set(re.findall(r"\bOCIREG_[A-Z_]+\b", runbook()))
    assert cited, "no OCIREG_* variable found"
    assert not cited - variables, f"not settings: {sorted(cited - variables)}"


def runbook_nginx_server_block(text):
    """The first `server { ... }` of the single-instance nginx example, as written."""
    start = text.index("nginx (one instance on the same machine):")
    block = text[text.index("    server {", start):]
    return "\n".join(line[4:] for line in block[:block.index("\n    }\n") + 6].splitlines())


@pytest.fixture
def runbook_nginx(tmp_path):
    """nginx running the runbook's server block; yields start(upstream_port) -> (url, cert)."""
    def server_block(port, cert, key, upstream_port):
        server = runbook_nginx_server_block(runbook())
        server = re.sub(r"listen 443 ssl( http2)?;", f"listen 127.0.0.1:{port} ssl;", server)
        server = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", server)
        server = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", server)
        server = server.replace("127.0.0.1:5000", f"127.0.0.1:{upstream_port}")
        assert str(cert) in server and f"127.0.0.1:{port}" in server, server
        return server

    with nginx_tls(tmp_path, server_block) as start:
        yield start


def test_runbook_nginx_example_proxies_push_and_pull_and_guards_metrics(registry_factory,
                                                                       runbook_nginx):
    srv = registry_factory(["--trusted-proxy", "127.0.0.1"])
    url, cert = runbook_nginx(srv.port)
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test's certificate
    session.verify = cert
    layer = os.urandom(3 << 20)  # streamed through, not buffered
    img = push_image(url, "ops/app", "v1", layers=(layer,), session=session)
    got = session.get(f"{url}/v2/ops/app/manifests/v1", headers={"Accept": img.media_type},
                      timeout=30)
    assert got.status_code == 200 and got.content == img.manifest
    digest = next(d for d, data in img.blobs.items() if data == layer)
    assert session.get(f"{url}/v2/ops/app/blobs/{digest}", timeout=30).content == layer
    assert session.get(f"{url}/metrics", timeout=10).status_code == 403
    assert requests.get(f"{srv.url}/metrics", timeout=10).status_code == 200
