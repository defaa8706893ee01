"""The fit's resume record: a fit resumes only the same fit; a record cut short by a kill means a new one."""

from vision.raptor.fit import _recorded


def test_a_missing_or_cut_short_record_reads_as_no_record(tmp_path):
    record = tmp_path / "fit.json"
    assert _recorded(record) is None
    record.write_text('{"model_config": {"dim"')
    assert _recorded(record) is None
    record.write_text('{"lr": 0.001}')
    assert _recorded(record) == {"lr": 0.001}
