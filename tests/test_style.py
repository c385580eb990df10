"""The house style holds: every C source and header is laid out as the checked-in .clang-format
says (ColumnLimit 100 among it), so that formatting never shows up in a change's diff."""
import os
import shutil
import subprocess

import pytest

from ocireg_harness import ROOT


def c_sources():
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.split()
    found = []
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        found += [os.path.relpath(os.path.join(top, f), ROOT) for f in files
                  if f.endswith((".c", ".h"))]
    return found


def test_every_c_file_is_as_clang_format_lays_it_out():
    tool = shutil.which("clang-format")
    if tool is None:
        pytest.fail("clang-format is missing: scripts/deps.sh test installs it")
    files = c_sources()
    assert len(files) > 100, f"only {len(files)} C files found under {ROOT}"
    out = subprocess.run([tool, "--dry-run", "--Werror", *files], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    offenders = sorted({line.split(":", 1)[0] for line in out.stderr.splitlines()
                        if ": error:" in line})
    assert out.returncode == 0, (
        f"{len(offenders)} files differ from .clang-format (run clang-format -i on them): "
        f"{', '.join(offenders[:20])}\n{out.stderr[:2000]}")
