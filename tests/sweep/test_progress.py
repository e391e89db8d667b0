"""Progress lines of jobs whose output is not the terminal (submitit): the launching process prints
each run's line as its record appears, with the counter the job itself would print."""

import pickle

from harness import records
from harness.sweep.callback import SweepCallback
from harness.sweep.progress import RecordWatcher, jobs_print_elsewhere, line

SINCE = "2026-01-02T00:00:00+00:00"


def _record(run_id, status="completed", ended_at="2026-01-02T00:01:00+00:00", reason=None, name=None):
    return records.RunRecord(
        run_id=run_id, status=status, sweep_name="sw",
        config={"model": {"name": name, "n_layer": 2, "d_model": 64}}, shape={},
        params={"total": 123456, "non_embedding": 100000}, tokens=2_000_000, steps=10,
        flops={"6ND": 1.48e12, "kaplan": 1.5e12}, val_loss=3.21 if status == "completed" else None,
        bayes_loss=None, curve=[], wall_seconds=12.3, tokens_per_second=None, mfu=None, peak_flops=None,
        device_name="", torch_version="", git_commit=None, data_fingerprint="", unique_tokens=None, epochs=None,
        seed=0, started_at="2026-01-02T00:00:30+00:00", ended_at=ended_at, reason=reason)


def test_the_line_is_the_one_a_job_prints():
    rec = _record("a1")
    assert line(2, 4, "L2d64", "a1", rec, "total", "6ND", SINCE) == (
        "[2/4] ##########.......... L2d64 N=123K D=2M C=1.48e+12 val_loss 3.2100 12.3s completed")
    assert line(1, 4, "L2d64", "a1", _record("a1", ended_at="2025-12-31T00:00:00+00:00"), "non_embedding",
                "kaplan", SINCE).endswith("N=100K D=2M C=1.5e+12 val_loss 3.2100 12.3s completed (recorded earlier)")
    assert line(3, 4, "x", "a1", None, "total", "6ND") == "[3/4] ###############..... x: no record (run a1)"


def test_the_watcher_prints_each_new_record_once_and_counts_records_on_disk(tmp_path):
    out = []
    records.write_record(_record("done0", ended_at="2025-12-31T00:00:00+00:00"), tmp_path)  # skipped: recorded before
    records.write_record(_record("fail1", status="failed", reason="boom"), tmp_path)
    w = RecordWatcher(str(tmp_path), "sw", ["done0", "fail1", "new2", "new3"], "total", "6ND", SINCE,
                      emit=out.append)
    assert w.poll() == [] and out == []  # records there at the start had their say in the first line
    records.write_record(_record("new3", name="ladder_xs"), tmp_path)
    assert w.poll() == ["[3/4] ###############..... ladder_xs N=123K D=2M C=1.48e+12 val_loss 3.2100 12.3s completed"]
    assert w.poll() == []
    # A retried failed run writes its record again: a new line, no new record on disk.
    records.write_record(_record("fail1", ended_at="2026-01-02T00:02:00+00:00"), tmp_path)
    records.write_record(_record("new2", status="diverged", reason="non-finite loss"), tmp_path)
    got = w.poll()
    assert [g.split("]")[0] for g in got] == ["[3/4", "[4/4"]
    assert got[0].endswith("L2d64 N=123K D=2M C=1.48e+12 val_loss 3.2100 12.3s completed")
    assert got[1].endswith("val_loss - 12.3s diverged (non-finite loss)")
    assert out == ["[3/4] ###############..... ladder_xs N=123K D=2M C=1.48e+12 val_loss 3.2100 12.3s completed", *got]


def test_stop_reports_what_appeared_since_the_last_look(tmp_path):
    out = []
    w = RecordWatcher(str(tmp_path), "sw", ["r0"], "total", "6ND", SINCE, poll_seconds=3600, emit=out.append)
    w.start()
    records.write_record(_record("r0"), tmp_path)
    w.stop()  # the thread sleeps for an hour; stop's own look finds the record
    assert len(out) == 1 and out[0].startswith("[1/1] ####################")


def test_only_submitit_launchers_get_a_watcher():
    assert jobs_print_elsewhere("hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher")
    assert jobs_print_elsewhere("hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher")
    assert not jobs_print_elsewhere("hydra._internal.core_plugins.basic_launcher.BasicLauncher")
    assert not jobs_print_elsewhere("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher")


def test_the_callback_pickles_into_a_job_without_its_watcher(tmp_path):
    # Submitit pickles the Hydra callbacks into every job; a thread and its lock cannot be pickled.
    cb = SweepCallback()
    cb.planned = ["r0"]
    cb.watcher = RecordWatcher(str(tmp_path), "sw", ["r0"], "total", "6ND", SINCE, poll_seconds=3600)
    cb.watcher.start()
    try:
        job_copy = pickle.loads(pickle.dumps(cb))
    finally:
        cb.watcher.stop()
    assert job_copy.watcher is None and job_copy.planned == ["r0"]
