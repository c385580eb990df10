"""The test engines themselves work: PostgreSQL answers psql, Ceph radosgw serves S3.

Object PUT/GET/DELETE go through tests/engines.py's own SigV4 signer; the multipart upload goes
through the AWS CLI, so a real SDK client is known to sign for the region the engine reports.
"""
import json
import os
import subprocess

import pytest

from tests.engines import sigv4_request

AWS = "/usr/bin/aws"


def psql(url, sql):
    r = subprocess.run(["psql", url, "-XAtqc", sql], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert r.returncode == 0, f"psql {url} -c {sql!r} failed: {r.stderr}"
    return r.stdout.strip()


def aws_s3api(rgw, tmp_path, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=rgw.access_key, AWS_SECRET_ACCESS_KEY=rgw.secret_key,
               AWS_DEFAULT_REGION=rgw.region, AWS_CONFIG_FILE=str(tmp_path / "no-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
               AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    r = subprocess.run([AWS, "--endpoint-url", rgw.endpoint, "--output", "json", "s3api", *args],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                       timeout=120)
    assert r.returncode == 0, f"aws s3api {' '.join(args)} failed: {r.stderr}"
    return json.loads(r.stdout) if r.stdout.strip() else {}


def test_postgres_answers_select_1(postgres):
    assert postgres.url.endswith("/ocireg")
    assert psql(postgres.url, "SELECT 1") == "1"


def test_postgres_new_database_is_usable(postgres):
    url = postgres.new_database("engines_scratch")
    assert psql(url, "SELECT current_database()") == "engines_scratch"
    psql(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
    assert psql(url, "SELECT x FROM t") == "42"


def test_ceph_start_time_is_reported(rgw):
    print(f"ceph + radosgw started in {rgw.started_seconds:.2f} s, daemons {rgw.pids}")
    assert 0 < rgw.started_seconds < 120


def test_rgw_put_get_delete_is_byte_exact(rgw):
    rgw.make_bucket("engines-objects")
    data = os.urandom(3 * 1024 * 1024 + 17)
    status, _, body = rgw.request("PUT", "/engines-objects/dir/blob", data)
    assert status == 200, f"PUT answered {status}: {body[:300]!r}"
    status, _, body = rgw.request("GET", "/engines-objects/dir/blob")
    assert status == 200 and body == data, f"GET answered {status} with {len(body)} bytes"
    status, _, body = rgw.request("DELETE", "/engines-objects/dir/blob")
    assert status == 204, f"DELETE answered {status}: {body[:300]!r}"
    status, _, _ = rgw.request("GET", "/engines-objects/dir/blob")
    assert status == 404, f"GET after DELETE answered {status}, expected 404"


def test_rgw_multipart_upload_with_aws_cli(rgw, tmp_path):
    rgw.make_bucket("engines-multipart")
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(123457)]
    key = "layers/big"
    upload_id = aws_s3api(rgw, tmp_path, "create-multipart-upload", "--bucket",
                          "engines-multipart", "--key", key)["UploadId"]
    done = []
    for number, part in enumerate(parts, 1):
        path = tmp_path / f"part{number}"
        path.write_bytes(part)
        etag = aws_s3api(rgw, tmp_path, "upload-part", "--bucket", "engines-multipart", "--key",
                         key, "--upload-id", upload_id, "--part-number", str(number), "--body",
                         str(path))["ETag"]
        done.append({"ETag": etag, "PartNumber": number})
    aws_s3api(rgw, tmp_path, "complete-multipart-upload", "--bucket", "engines-multipart",
              "--key", key, "--upload-id", upload_id, "--multipart-upload",
              json.dumps({"Parts": done}))
    status, _, body = rgw.request("GET", f"/engines-multipart/{key}")
    assert status == 200 and body == b"".join(parts), \
        f"GET of the completed upload answered {status} with {len(body)} bytes"
    aws_s3api(rgw, tmp_path, "delete-object", "--bucket", "engines-multipart", "--key", key)
    status, _, _ = rgw.request("HEAD", f"/engines-multipart/{key}")
    assert status == 404, f"HEAD after delete-object answered {status}, expected 404"


@pytest.mark.parametrize("region", ["us-east-1", "default"])
def test_rgw_accepts_signatures_for_any_region_name(rgw, region):
    """RGW checks SigV4 with whatever region the credential scope names."""
    status, _, body = sigv4_request("GET", rgw.endpoint + "/", rgw.access_key, rgw.secret_key,
                                    region)
    assert status == 200, f"ListBuckets signed for {region} answered {status}: {body[:300]!r}"
