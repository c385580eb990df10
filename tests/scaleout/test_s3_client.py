"""The S3 client (storage/s3/) through its check program, build/tests/s3_check.

Against the session's Ceph radosgw: every function of s3.h, in the engine's region with a bucket
made beforehand, and in another region where the client creates the bucket itself (RGW refuses
a LocationConstraint other than its zonegroup's, so the client retries without one).

Against a scripted fake S3 in this file: retries and resumes, which a healthy RGW never
provokes. The fake misbehaves by key name (drop-once, slowdown-twice, ...) and logs every
request, so the tests can also check what the client sent when it retried.
"""
import hashlib
import os
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def s3_check_binary():
    build = Path(os.environ.get("OCIREG_BIN", ROOT / "build" / "ocireg")).parent
    path = build / "tests" / "s3_check"
    assert os.access(path, os.X_OK), f"{path} is missing: ninja -C {build} tests/s3_check"
    return str(path)


def run_s3_check(url, access_key, secret_key, *args, timeout=300):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
    env.pop("AWS_REGION", None)
    r = subprocess.run([s3_check_binary(), url, *args], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    assert r.returncode == 0, (f"s3_check {url} {' '.join(args)} exited {r.returncode}\n"
                               f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r.stdout


def test_s3_client_every_function_against_rgw(rgw):
    rgw.make_bucket("s3-client-check")
    url = f"s3://s3-client-check?endpoint={rgw.endpoint}&region={rgw.region}{rgw.OCIREG_PARAMS}"
    out = run_s3_check(url, rgw.access_key, rgw.secret_key)
    assert "FAIL" not in out


def test_s3_client_creates_its_bucket_in_another_region(rgw):
    url = f"s3://s3-client-fresh?endpoint={rgw.endpoint}&region=eu-central-1{rgw.OCIREG_PARAMS}"
    out = run_s3_check(url, rgw.access_key, rgw.secret_key)
    assert "FAIL" not in out


# ---- the fake S3 ----

def xml_error(code, message=""):
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


class FakeS3:
    """Just enough S3 for s3_check --faults: objects, ranges, If-Match, multipart uploads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}   # key -> (bytes, etag)
        self.uploads = {}   # upload id -> (key, {part number: bytes})
        self.counts = {}    # (method, key) -> requests seen
        self.log = []       # one dict per request
        self.next_upload = 0

    def count(self, method, key):
        with self.lock:
            n = self.counts.get((method, key), 0) + 1
            self.counts[(method, key)] = n
            return n

    def requests(self, method, key):
        return [e for e in self.log if e["method"] == method and e["key"] == key]


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", headers=(), send_body=True):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and self.command != "HEAD":
                self.wfile.write(body)

        def drop(self):
            """Close the connection without (the rest of) an answer."""
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def handle_any(self):
            parsed = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            parts = urllib.parse.unquote(parsed.path).split("/", 2)
            key = parts[2] if len(parts) > 2 else None
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = {"method": self.command, "key": key, "query": parsed.query,
                     "range": self.headers.get("Range"), "if_match": self.headers.get("If-Match"),
                     "sha256": hashlib.sha256(body).hexdigest(),
                     "sse": self.headers.get("x-amz-server-side-encryption"),
                     "signed": re.findall(r"SignedHeaders=([^,]*)",
                                          self.headers.get("Authorization") or "")}
            fake.log.append(entry)
            if not (self.headers.get("Authorization") or "").startswith(
                    "AWS4-HMAC-SHA256 Credential="):
                return self.answer(403, xml_error("AccessDenied", "unsigned"))
            if self.headers.get("x-amz-content-sha256") != entry["sha256"]:
                return self.answer(400, xml_error("XAmzContentSHA256Mismatch"))
            if key is None:
                return self.bucket(query)
            n = fake.count(self.command, key)  # completions count apart from creations
            if self.command == "PUT":
                return self.put(key, query, body, n)
            if self.command in ("GET", "HEAD"):
                return self.get(key, n)
            if self.command == "DELETE":
                fake.uploads.pop(query.get("uploadId", [None])[0], None)
                if "uploadId" not in query:
                    fake.objects.pop(key, None)
                return self.answer(204)
            if self.command == "POST" and "uploads" in query:
                with fake.lock:
                    fake.next_upload += 1
                    upload_id = f"up-{fake.next_upload}"
                fake.uploads[upload_id] = (key, {})
                return self.answer(200, (f"<InitiateMultipartUploadResult><Key>{key}</Key>"
                                         f"<UploadId>{upload_id}</UploadId>"
                                         "</InitiateMultipartUploadResult>").encode())
            if self.command == "POST" and "uploadId" in query:
                return self.complete(key, query["uploadId"][0], body,
                                     fake.count("COMPLETE", key))
            return self.answer(400, xml_error("InvalidRequest"))

        def bucket(self, query):
            if query.get("list-type") == ["2"] and query.get("prefix") == ["loop/"]:
                return self.answer(200, b"<ListBucketResult><IsTruncated>true</IsTruncated>"
                                        b"<NextContinuationToken>same</NextContinuationToken>"
                                        b"</ListBucketResult>")
            return self.answer(200, b"<ListBucketResult><IsTruncated>false</IsTruncated>"
                                    b"</ListBucketResult>")

        def put(self, key, query, body, n):
            etag = '"' + hashlib.md5(body).hexdigest() + '"'
            if "partNumber" in query:
                upload = fake.uploads.get(query["uploadId"][0])
                if not upload:
                    return self.answer(404, xml_error("NoSuchUpload"))
                upload[1][int(query["partNumber"][0])] = body
                return self.answer(200, headers=[("ETag", etag)])
            if "slowdown-twice" in key and n <= 2:
                return self.answer(503, xml_error("SlowDown", "Please reduce your request rate."))
            fake.objects[key] = (body, etag)
            return self.answer(200, headers=[("ETag", etag)])

        def get(self, key, n):
            if "always-500" in key:
                return self.answer(500, xml_error("InternalError"))
            if "404-no-body" in key:
                return self.answer(404)
            if "forbidden" in key:
                return self.answer(403)
            if "stall" in key:
                time.sleep(3)
                return self.answer(200)
            if key not in fake.objects:
                return self.answer(404, xml_error("NoSuchKey"))
            data, etag = fake.objects[key]
            if self.headers.get("If-Match") not in (None, etag):
                return self.answer(412, xml_error("PreconditionFailed"))
            status, start, headers = 200, 0, [("ETag", etag),
                                              ("Last-Modified", "Thu, 26 Nov 2026 14:44:55 GMT")]
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if m:
                start = int(m.group(1))
                end = min(int(m.group(2)) + 1 if m.group(2) else len(data), len(data))
                if start >= len(data):
                    return self.answer(416, xml_error("InvalidRange"))
                headers.append(("Content-Range", f"bytes {start}-{end - 1}/{len(data)}"))
                status, data = 206, data[start:end]
            if self.command == "GET" and "drop-once" in key and n == 1:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                if "change" in key:
                    whole, _ = fake.objects[key]
                    fake.objects[key] = (whole, '"replaced"')
                return self.drop()
            return self.answer(status, data, headers)

        def complete(self, key, upload_id, body, n):
            if "complete-error-always" in key:
                return self.answer(200, xml_error("InvalidPart", "One or more parts were not found"))
            if "complete-error-once" in key and n == 1:
                return self.answer(200, b'<?xml version="1.0" encoding="UTF-8"?>\n\n'
                                   + xml_error("InternalError", "try again"))
            upload = fake.uploads.pop(upload_id, None)
            if not upload:
                return self.answer(404, xml_error("NoSuchUpload"))
            numbers = [int(x) for x in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
            data = b"".join(upload[1][i] for i in numbers)
            digests = b"".join(hashlib.md5(upload[1][i]).digest() for i in numbers)
            etag = f'"{hashlib.md5(digests).hexdigest()}-{len(numbers)}"'
            fake.objects[key] = (data, etag)
            if "complete-drop-answer" in key and n == 1:
                return self.drop()
            return self.answer(200, (f"<CompleteMultipartUploadResult><Key>{key}</Key>"
                                     f"<ETag>{etag}</ETag></CompleteMultipartUploadResult>").encode())

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that gave up (timeouts) make the stalled handlers fail to write


def run_against_fake(params=""):
    """s3_check --faults against a fresh fake S3; returns the fake with its request log."""
    fake = FakeS3()
    server = QuietServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        url = (f"s3://fake-bucket?endpoint=http://127.0.0.1:{port}&region=us-east-1"
               "&timeout_ms=1000&max_retries=2" + params)
        run_s3_check(url, "FAKEKEY", "fake-secret", "--faults", timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    return fake


def object_writes(fake):
    """PutObject and CreateMultipartUpload requests (not parts, not completions)."""
    return [e for e in fake.log if (e["method"] == "PUT" and "partNumber" not in e["query"])
            or (e["method"] == "POST" and e["query"] == "uploads=")]


def test_s3_client_asks_for_server_side_encryption_on_every_object():
    fake = run_against_fake()
    writes = object_writes(fake)
    assert any(e["method"] == "PUT" for e in writes) and any(e["method"] == "POST" for e in writes)
    for e in writes:
        assert e["sse"] == "AES256", f"{e['method']} {e['key']} without SSE: {e}"
        assert "x-amz-server-side-encryption" in e["signed"][0].split(";"), \
            f"{e['method']} {e['key']}: the SSE header must be signed: {e['signed']}"
    unencrypted = run_against_fake("&sse=0")
    assert all(e["sse"] is None for e in object_writes(unencrypted)), "sse=0 sends no SSE header"


def test_s3_client_retries_and_resumes_against_a_faulty_server():
    fake = run_against_fake()

    # A dropped GET resumes after the last delivered byte, on the same version of the object.
    gets = fake.requests("GET", "faults/drop-once")
    assert [g["range"] for g in gets] == [None, "bytes=524288-"]
    assert gets[1]["if_match"] == fake.objects["faults/drop-once"][1]
    ranged = fake.requests("GET", "faults/drop-once-ranged")
    assert [g["range"] for g in ranged] == ["bytes=1000-300999", "bytes=151000-300999"]
    changed = fake.requests("GET", "faults/drop-once-and-change")
    assert len(changed) == 2 and changed[1]["if_match"] is not None
    # Retried bodies are resent whole.
    puts = fake.requests("PUT", "faults/slowdown-twice")
    assert len(puts) == 3 and len({p["sha256"] for p in puts}) == 1
    assert len(fake.requests("POST", "faults/complete-error-once")) == 3  # create + 2 completes
    assert len(fake.requests("POST", "faults/complete-error-always")) == 2  # no retry
    assert len(fake.requests("GET", "faults/always-500")) == 3  # 1 + max_retries
    assert len(fake.requests("HEAD", "faults/forbidden")) == 1
    assert len(fake.requests("HEAD", "faults/stall")) == 3
