"""benchmarks/device_check.sh: every step runs, a step's own result files reach $OUT.

A fake ``python3`` on PATH stands in for jax and the benchmarks: each benchmark call
writes one result file (and ``bench_sweep`` fails), so the test sees the steps run in
order, a failing step not stop the next, and only files written during the run copied.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-c" ]; then echo "jax 0.0 [FakeDevice]"; exit 0; fi
name=$(basename "$1" .py)
echo "ran $name $*"
echo '{}' > "benchmarks/results/${name}_gpu.json"
[ "$name" = bench_sweep ] && exit 3
exit 0
"""


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and coreutils timeout")
def test_device_check_runs_every_step_and_copies_what_it_wrote(tmp_path):
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "device_check.sh", repo / "benchmarks")
    (repo / "benchmarks" / "results" / "old_cpu.json").write_text("{}")  # committed before
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", OUT=str(out))
    proc = subprocess.run(["bash", "benchmarks/device_check.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    log = (out / "device_check.log").read_text()
    steps = [line for line in log.splitlines() if line.startswith("== benchmarks/")]
    assert [s.split()[1] for s in steps] == ["benchmarks/bench_mle.py", "benchmarks/grid_time.py",
                                             "benchmarks/bench_sweep.py"]
    assert "== exit 3" in log and log.count("== exit 0") == 2
    assert sorted(p.name for p in out.iterdir()) == [
        "bench_mle_gpu.json", "bench_sweep_gpu.json", "device_check.log", "grid_time_gpu.json"]
