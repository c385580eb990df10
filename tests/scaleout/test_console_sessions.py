"""Web console sessions across instances: two `ocireg serve` on one PostgreSQL index (each its
own data folder) know the same sessions, since a session is a row of the index; a sign-out on
one ends it on the other."""
import time

import requests

from tests.authutil import cli
from ocireg_harness import RegistryServer

TIMEOUT = 30


def test_a_session_opened_on_one_instance_works_and_ends_on_another(postgres, tmp_path):
    index = postgres.new_database("console_sessions")
    servers = [RegistryServer(tmp_path / f"instance{i}", ["--index", index]).start(timeout=30)
               for i in range(2)]
    try:
        cli("user", "add", "alice", "--password-stdin", "--data", str(tmp_path / "cli"),
            "--index", index, stdin="alice-pw-1\n")
        deadline = time.monotonic() + 15
        while any(requests.get(f"{s.url}/v2/", timeout=TIMEOUT).status_code != 401
                  for s in servers):
            assert time.monotonic() < deadline, "auth did not turn on on both instances"
            time.sleep(0.1)
        one, two = (f"{s.url}/console/api/session" for s in servers)
        r = requests.post(one, json={"username": "alice", "password": "alice-pw-1"},
                          timeout=TIMEOUT, headers={"Connection": "close"})
        assert r.status_code == 200, r.text
        cookie = {"ocireg_console": r.cookies["ocireg_console"]}
        seen = requests.get(two, cookies=cookie, timeout=TIMEOUT).json()
        assert seen["user"] == "alice", f"the other instance does not know the session: {seen}"
        r = requests.delete(two, cookies=cookie, timeout=TIMEOUT,
                            headers={"X-CSRF-Token": seen["csrfToken"]})
        assert r.status_code == 200, r.text
        after = requests.get(one, cookies=cookie, timeout=TIMEOUT).json()
        assert after["user"] is None and after["sessionEnded"], after
    finally:
        for s in servers:
            s.stop()
