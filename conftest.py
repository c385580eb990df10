"""Shared pytest fixtures: start a fresh `ocireg serve` on a free loopback port.

Every suite (conformance/, tests/) gets the same `registry` (session-wide server) and
`registry_factory` (a private server per test, for tests that restart or kill it).
Set OCIREG_URL to run the suites against an already running server instead.
"""
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.abspath(__file__))


def ocireg_binary():
    return os.environ.get("OCIREG_BIN", os.path.join(ROOT, "build", "ocireg"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryServer:
    """One ocireg process we started; we stop only it, by PID."""

    def __init__(self, data_dir, extra_args=(), env=None, scheme="http", verify=True):
        self.data = str(data_dir)
        self.extra_args = list(extra_args)
        self.env = env
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{scheme}://{self.host}"
        self.verify = verify
        self.proc = None
        self.log_path = os.path.join(self.data, "server.log")

    def start(self, timeout=15):
        os.makedirs(self.data, exist_ok=True)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [ocireg_binary(), "serve", "--listen", self.host, "--data", self.data]
            + self.extra_args,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ocireg exited with {self.proc.returncode}: {self.log()}")
            try:
                requests.get(self.url + "/healthz", timeout=1, verify=self.verify)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("ocireg did not start listening in time: " + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def vm_hwm_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None


class ExternalRegistry:
    """A server somebody else runs (OCIREG_URL); it cannot be restarted from here."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.host = self.url.split("://", 1)[1]
        self.data = None
        self.proc = None


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    if os.environ.get("OCIREG_URL"):
        yield ExternalRegistry(os.environ["OCIREG_URL"])
        return
    server = RegistryServer(tmp_path_factory.mktemp("registry-data")).start()
    yield server
    server.stop()


@pytest.fixture
def registry_factory(tmp_path):
    """Start private servers: registry_factory(extra_args=[...], data_dir=None, ...)."""
    started = []

    def make(extra_args=(), data_dir=None, env=None, scheme="http", verify=True):
        server = RegistryServer(data_dir or tmp_path / f"data{len(started)}", extra_args, env,
                                scheme, verify)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
