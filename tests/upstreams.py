"""Servers the suites stand up as upstreams and receivers: Debian's docker-registry with
htpasswd auth (pull-through, replication, the remote client), and small http.server handlers on
a thread of their own (webhook receivers, proxies)."""
import re
import subprocess
import threading
import time
from http.server import ThreadingHTTPServer

import requests

from ocireg_harness import free_port, wait_until  # noqa: F401 (the suites import it from here)


class Distribution:
    """docker-registry (distribution 2.8) in folder `root` on a port of its own, with htpasswd
    (bcrypt) Basic auth for auth = (user, password), or none for auth=None, and its access log
    in root/registry.log so a test can count what was fetched. start() again after stop() serves
    the same data on the same port. Stopped by PID."""

    def __init__(self, root, auth):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "registry.log"
        self.auth = auth
        self.proc = None

    def _config(self):
        auth = ""
        if self.auth:
            htpasswd = self.root / "htpasswd"
            subprocess.run(["htpasswd", "-Bbc", str(htpasswd), *self.auth], check=True,
                           capture_output=True, timeout=30)
            auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n"
        conf = self.root / "config.yml"
        conf.write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {self.root / 'data'}
  delete:
    enabled: true
{auth}http:
  addr: 127.0.0.1:{self.port}
""")
        return conf

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self._config()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(conf)], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL)

        def up():
            try:
                return requests.get(self.url + "/v2/", timeout=2).status_code in (200, 401)
            except requests.ConnectionError:
                return self.proc.poll() is not None
        wait_until(up, "docker-registry to listen")
        assert self.proc.poll() is None, self.log_path.read_text()
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def session(self):
        s = requests.Session()
        s.auth = self.auth
        return s

    def requests_for(self, method, path_part, status=None):
        """How many requests of `method` for a path containing path_part the log shows (with
        answer `status` when given: 200 leaves out the 401 challenges of the htpasswd auth)."""
        pattern = re.compile(r'"' + method + r' (\S+) HTTP/[\d.]+" (\d+)')
        return sum(1 for line in self.log_path.read_text().splitlines()
                   for m in [pattern.search(line)] if m and path_part in m.group(1) and
                   (status is None or int(m.group(2)) == status))


class LocalHTTP:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, on a daemon thread: serve(handler) starts
    it (then self.url), close() stops it."""

    def serve(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
