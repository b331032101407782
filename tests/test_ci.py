"""The test runner CI uses (README ``ci:test``: ``pytest -n 2 --dist loadgroup``) keeps each ``xdist_group``
on one worker: the vLLM tests share one set of servers and the Ray tests one cluster only because of it."""

from __future__ import annotations

import re
import subprocess
import sys


def test_loadgroup_runs_a_group_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\n"
        "pytestmark = pytest.mark.xdist_group('servers')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_grouped(i):\n    pass\n")
    (tmp_path / "test_free.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_free(i):\n    pass\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                          "no:cacheprovider", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = re.findall(r"\[(gw\d)\].*PASSED .*test_grouped\[", run.stdout)
    assert len(workers) == 6, run.stdout[-2000:]
    # pytest 9.2 with pytest-xdist 3.8 sends them to both workers (pytest-dev/pytest-xdist#1386)
    assert len(set(workers)) == 1, f"the group ran on {sorted(set(workers))}: {run.stdout[-2000:]}"
