"""The blob backend contract on S3: build/tests/test_blob_backend (tests/unit/test_blob_backend.c)
runs its cases on a local folder and, with OCIREG_TEST_S3 naming a bucket of the session's Ceph
radosgw, on S3 as well; `meson test` alone runs only the local half."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_blob_backend_contract_against_rgw(rgw):
    build = Path(os.environ.get("OCIREG_BIN", ROOT / "build" / "ocireg")).parent
    binary = build / "tests" / "test_blob_backend"
    assert os.access(binary, os.X_OK), f"{binary} is missing: ninja -C {build}"
    rgw.make_bucket("blob-backend-check")
    env = dict(os.environ,
               OCIREG_TEST_S3=(f"s3://blob-backend-check?endpoint={rgw.endpoint}"
                               f"&region={rgw.region}{rgw.OCIREG_PARAMS}"),
               AWS_ACCESS_KEY_ID=rgw.access_key, AWS_SECRET_ACCESS_KEY=rgw.secret_key)
    env.pop("AWS_REGION", None)
    r = subprocess.run([str(binary)], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=600)
    assert r.returncode == 0, (f"test_blob_backend exited {r.returncode}\n"
                               f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    assert "-- S3" in r.stdout and "FAIL" not in r.stdout, r.stdout
