"""`rsuite demo`: outputs of an earlier demo are not replaced without --force; a bad --out is one line."""

import argparse
import importlib
import subprocess
import sys

from apps.demo import APP_JOBS, run_demo
from apps.read_digits import DEMO_OUTPUTS


def test_every_demo_names_the_files_it_writes():
    for job in APP_JOBS:
        module = importlib.import_module(f"apps.{job.replace('-', '_')}")
        assert not hasattr(module, "demo") or module.DEMO_OUTPUTS, job


def test_a_job_whose_outputs_exist_is_not_run_again_without_force(tmp_path):
    mine = tmp_path / "read-digits.tsv"
    mine.write_text("mine")
    status, summary = run_demo("read-digits", tmp_path, argparse.Namespace(force=False, quiet=True, device="cpu"))
    assert status == "not run" and "--force" in summary and mine.read_text() == "mine"
    status, summary = run_demo("read-digits", tmp_path, argparse.Namespace(force=True, quiet=True, device="cpu"))
    assert status == "ok" and mine.read_text().count("\n") == 8, summary
    assert [p.name for p in tmp_path.iterdir()] == DEMO_OUTPUTS  # what it declares is what it writes


def test_out_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    result = subprocess.run([sys.executable, "-m", "apps.cli", "demo", "--out", str(tmp_path / "afile")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "not a folder" in result.stderr and "Traceback" not in result.stderr
