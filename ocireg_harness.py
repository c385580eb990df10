"""The test harness shared by every suite: start and stop `ocireg serve` processes.

Imported by the root conftest.py (fixtures) and by test modules that need a server of their own.
"""
import os
import signal
import socket
import subprocess
import time
import uuid

import requests

ROOT = os.path.dirname(os.path.abspath(__file__))


def ocireg_binary():
    return os.environ.get("OCIREG_BIN", os.path.join(ROOT, "build", "ocireg"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, what, deadline_s=20):
    """Poll cond every 50 ms until it is true; AssertionError after deadline_s seconds."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def vm_hwm_kib(pid):
    """The peak resident set of process pid in KiB (VmHWM), or None."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


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
        return vm_hwm_kib(self.proc.pid)


class ScaleOutCluster:
    """ocireg instances sharing one S3 bucket (a new one on `rgw`) and one PostgreSQL database
    (a new one on `postgres`), each with its own --data folder; plus the CLI on the same."""

    def __init__(self, rgw, postgres, workdir):
        tag = uuid.uuid4().hex[:12]
        self.bucket = "ocireg-" + tag
        rgw.make_bucket(self.bucket)
        self.storage = (f"s3://{self.bucket}?endpoint={rgw.endpoint}&region={rgw.region}"
                        + rgw.OCIREG_PARAMS)
        self.index = postgres.new_database("scale_" + tag)
        self.env = {"AWS_ACCESS_KEY_ID": rgw.access_key,
                    "AWS_SECRET_ACCESS_KEY": rgw.secret_key}
        self.workdir = workdir
        self.servers = []

    def where(self):
        return ["--storage", self.storage, "--index", self.index]

    def start_instance(self, extra_args=()):
        n = len(self.servers)
        server = RegistryServer(os.path.join(str(self.workdir), f"instance{n}"),
                                self.where() + ["--access-log", "false"] + list(extra_args),
                                env=self.env)
        self.servers.append(server)
        return server.start(timeout=30)

    def cli(self, *args, timeout=120):
        env = dict(os.environ, **self.env)
        return subprocess.run([ocireg_binary(), *args, "--data",
                               os.path.join(str(self.workdir), "cli")] + self.where(),
                              capture_output=True, text=True, env=env, timeout=timeout)

    def stop(self):
        for s in self.servers:
            s.stop()


class ExternalRegistry:
    """A server somebody else runs (OCIREG_URL); it cannot be restarted from here."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.host = self.url.split("://", 1)[1]
        self.data = None
        self.proc = None
