"""The PostgreSQL half of the C index unit tests (tests/unit/index_fixture.h), run against the
session's PostgreSQL: `meson test` reports it as SKIP without OCIREG_TEST_PG_URL, so this is
where it runs. Each executable must pass every test of its suite on PostgreSQL, all of them."""
import os
import re
import subprocess

import pytest

from ocireg_harness import ROOT, ocireg_binary

SUITES = ["index_pg", "index_uploads", "index_writer", "index_outbox",
          "index_console"]  # tests/meson.build index_backend_tests
TIMEOUT = 300


def expected_tests(name):
    """The tests the executable's suite runs: every RUN(...) in its source."""
    with open(os.path.join(ROOT, "tests", "unit", f"test_{name}.c")) as f:
        return re.findall(r"^\s*RUN\((\w+)\);", f.read(), re.M)


@pytest.mark.parametrize("name", SUITES)
def test_c_index_suite_passes_on_postgresql(postgres, name):
    exe = os.path.join(os.path.dirname(ocireg_binary()), "tests", f"test_{name}")
    assert os.access(exe, os.X_OK), f"{exe} is not built"
    url = postgres.new_database(f"c_{name}")
    proc = subprocess.run([exe, "postgresql"], capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(os.environ, OCIREG_TEST_PG_URL=url),
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"test_{name} postgresql exited {proc.returncode}:\n{out[-6000:]}"
    assert "-- PostgreSQL" in proc.stdout, out[-3000:]
    passed = re.findall(r"^ok\s+(\w+)$", proc.stdout, re.M)
    expected = expected_tests(name)
    assert expected and sorted(passed) == sorted(expected), (
        f"ran {len(passed)} of {len(expected)}: missing "
        f"{sorted(set(expected) - set(passed))}\n{out[-3000:]}")
