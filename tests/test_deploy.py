"""Running ocireg as a service: systemd's readiness (NOTIFY_SOCKET) and socket activation
(LISTEN_FDS, through Debian's systemd-socket-activate), reloads on SIGHUP (TLS certificate,
signing keys, settings) and restarts without a failed request (--reuse-port, draining)."""
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

from ocireg_harness import free_port, ocireg_binary
from regutil import assert_pulls, push_image, server_log



class NotifyListener:
    """A NOTIFY_SOCKET as systemd has one: a datagram socket, abstract ('@name') or a path."""

    def __init__(self, tmp_path, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "ocireg-test-" + uuid.uuid4().hex
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = str(tmp_path / "notify.sock")
            self.sock.bind(self.address)

    def next(self, timeout=15):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


def start(args, tmp_path, env=None, name="serve"):
    log = open(tmp_path / f"{name}.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, **(env or {})))
    log.close()
    return proc


def log_of(tmp_path, name="serve"):
    with open(tmp_path / f"{name}.log", "rb") as f:
        return f.read()[-4000:].decode(errors="replace")


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("abstract", [True, False], ids=["abstract", "path"])
def test_ready_is_sent_once_v2_answers_then_reloading_and_stopping(tmp_path, abstract):
    notify = NotifyListener(tmp_path, abstract)
    port = free_port()
    proc = start([ocireg_binary(), "serve", "--listen", f"127.0.0.1:{port}", "--data",
                  str(tmp_path / "data")], tmp_path, {"NOTIFY_SOCKET": notify.address})
    try:
        assert notify.next() == "READY=1"
        # No retry: the first connection after READY=1 must be answered.
        r = requests.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
        assert r.status_code == 200, "READY=1 came before /v2/ answered"
        proc.send_signal(signal.SIGHUP)
        reloading = notify.next()
        assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC="), reloading
        assert notify.next() == "READY=1", "a reload ends with READY=1"
        proc.send_signal(signal.SIGTERM)
        assert notify.next() == "STOPPING=1"
        assert proc.wait(20) == 0
    finally:
        stop(proc)
        notify.close()


def test_socket_activation_serves_pushes_and_pulls_on_the_passed_socket(tmp_path):
    port = free_port()
    notify = NotifyListener(tmp_path, True)
    # --listen names a port nobody listens on: every answer comes through the passed socket.
    proc = start(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-E", "NOTIFY_SOCKET",
                  ocireg_binary(), "serve", "--listen", f"127.0.0.1:{free_port()}", "--data",
                  str(tmp_path / "data")], tmp_path, {"NOTIFY_SOCKET": notify.address})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:  # systemd-socket-activate binds before it is polled for
            try:
                # The first connection starts ocireg, which then answers it on the passed socket.
                r = requests.get(url + "/v2/", timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log_of(tmp_path)
                time.sleep(0.05)
        assert r.status_code == 200
        assert notify.next() == "READY=1"
        img = push_image(url, "deploy/activated", "v1", layers=[os.urandom(100000), b"small"])
        assert_pulls(url, img)
        assert "serving on the socket systemd passed" in log_of(tmp_path)
        proc.send_signal(signal.SIGTERM)
        assert notify.next() == "STOPPING=1"
        assert proc.wait(20) == 0, log_of(tmp_path)
    finally:
        stop(proc)
        notify.close()


def test_socket_activation_on_a_public_address_without_auth_is_refused(tmp_path):
    """The loopback check looks at the passed socket, not at --listen's default."""
    port = free_port()
    proc = start(["systemd-socket-activate", "-l", f"0.0.0.0:{port}", ocireg_binary(), "serve",
                  "--data", str(tmp_path / "data")], tmp_path)
    try:
        deadline = time.monotonic() + 15
        while "refusing" not in log_of(tmp_path):
            assert time.monotonic() < deadline, log_of(tmp_path)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except OSError:
                pass
            time.sleep(0.1)
        assert "the socket systemd passed without authentication" in log_of(tmp_path)
    finally:
        stop(proc)
