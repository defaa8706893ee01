"""The app conventions through the real `rsuite` command: usage, bad input, no overwrite, atomic output."""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from apps.common import UserError, atomic_output, pick_device, run_job


def rsuite(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "apps.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_usage_lists_jobs_and_unknown_job_exits_2():
    result = rsuite("--help")
    assert result.returncode == 0 and "read-digits" in result.stdout and "info" in result.stdout
    result = rsuite("no-such-job")
    assert result.returncode == 2 and "unknown job" in result.stderr and "did you mean" not in result.stderr
    result = rsuite("separate-voices")
    assert result.returncode == 2 and "did you mean 'separate-speech'?" in result.stderr


def test_info_reports_versions_and_weights(tmp_path):
    result = rsuite("info", "--json", "--weights-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["torch"].startswith("2.") and report["auto_device"] in ("cpu", "cuda")
    assert report["weights"] == []


def test_missing_input_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nowhere"
    result = rsuite("info", "--weights-dir", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_output_is_not_overwritten_without_force(tmp_path):
    (tmp_path / "out").mkdir()
    output = tmp_path / "out" / "report.json"
    assert rsuite("info", "--quiet", "--weights-dir", str(tmp_path), "--output", str(output)).returncode == 0
    assert json.loads(output.read_text())["weights"] == []
    output.write_text("keep me")
    result = rsuite("info", "--quiet", "--weights-dir", str(tmp_path), "--output", str(output))
    assert result.returncode == 2 and "--force" in result.stderr
    assert output.read_text() == "keep me"
    assert rsuite("info", "--quiet", "--force", "--weights-dir", str(tmp_path), "--output", str(output)).returncode == 0
    assert output.read_text() != "keep me"
    assert sorted(p.name for p in output.parent.iterdir()) == ["report.json"]  # no temporary left behind
    result = rsuite("info", "--quiet", "--force", "--weights-dir", str(tmp_path), "--output", str(output.parent))
    assert result.returncode == 2 and "is a folder" in result.stderr and "Traceback" not in result.stderr


def test_corrupt_weights_are_flagged(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "broken.safetensors").write_bytes(b"weights")
    result = rsuite("info", "--weights-dir", str(tmp_path))
    assert result.returncode == 1 and "unreadable card" in result.stdout
    assert result.stderr.startswith("rsuite info: broken: ") and result.stderr.count("\n") == 1


def test_info_skips_json_that_is_no_card_and_shows_small_counts(tmp_path):
    from recurrent.registry import save_weights
    from vision.fernn.model import grnn

    card = save_weights(grnn(hidden_channels=12, decoder_layers=0, head_layers=0), tmp_path / "tiny", model_name="grnn",
                        data=[], command="test", metrics={}, metrics_command="")
    (tmp_path / "report.json").write_text("{}")  # as beside a fit-raptor surrogate
    result = rsuite("info", "--weights-dir", str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert " 1,655 " in result.stdout and "report" not in result.stdout  # not "0.00 M"


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, force=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with pytest.raises(UserError, match="output folder"):
        with atomic_output(tmp_path / "missing" / "x.txt"):
            pass


def test_sigterm_ends_a_job_like_ctrl_c_leaving_no_partial_output(tmp_path, capsys):
    """``timeout`` and ``docker stop`` send SIGTERM: the partial output goes, exit 143, the handler is restored."""
    target = tmp_path / "out.txt"

    def job(args):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not stop the job")

    before = signal.getsignal(signal.SIGTERM)
    assert run_job("job", job, None) == 143
    assert capsys.readouterr().err == "job: terminated\n"
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before


def test_module_entry_point_works():
    result = subprocess.run([sys.executable, "-m", "apps.info", "--json", "--weights-dir", "."], capture_output=True, text=True)
    assert result.returncode == 0 and json.loads(result.stdout)["weights"] == []


def test_atomic_output_names_its_temporary_for_this_run_and_reports_a_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    (tmp_path / ".out.partial.txt").mkdir()  # a user's folder under the name a fixed temporary would take
    with atomic_output(target) as first, atomic_output(tmp_path / "other.txt") as second:
        assert first.parent == tmp_path and first != second and first.suffix == ".txt"
        first.write_text("new")
        second.write_text("other")
    assert target.read_text() == "new" and (tmp_path / ".out.partial.txt").is_dir()
    with pytest.raises(UserError, match="out.txt: cannot write"):
        with atomic_output(target, force=True) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device")
    elsewhere = tmp_path / "in" / "input.wav"
    with pytest.raises(UserError, match=f"^{elsewhere}: Permission denied$"):
        with atomic_output(target, force=True) as tmp:
            raise PermissionError(errno.EACCES, "Permission denied", str(elsewhere))
    assert target.read_text() == "new"


def test_only_cpu_and_cuda_devices_are_taken():
    assert pick_device("cpu").type == "cpu"
    for name in ("mps", "meta", "xpu", "nonsense"):
        with pytest.raises(UserError, match=f"--device {name}: not a device"):
            pick_device(name)
