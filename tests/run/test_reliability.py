"""No run lost, no record stale (issue 10): divergence, corrupt files, unwritable folders, edited
data, file modes and concurrent starts, each on a tiny in-process run."""

from __future__ import annotations

import math
import os

import pytest
from omegaconf import OmegaConf

from harness import records
from harness.cli.train import task
from harness.config import as_dict
from harness.run.losses import LossWindow
from harness.run.train import run
from tests.helpers import TINY, make_config
from tests.run.test_checkpoint import file_size_limit


def _record_file(tmp_path, rec) -> str:
    return records.record_path(tmp_path, "default", rec.run_id)


# -- a diverged run keeps its curve ------------------------------------------------------------

DIVERGING = [*TINY, "optim.lr=1e3", "optim.grad_clip=0", "train.eval_interval=2"]


def test_a_nan_validation_loss_is_recorded_as_diverged_with_its_curve(tmp_path):
    # lr=1e3 without clipping: the evaluation at step 4 gives nan while the training loss is
    # still finite. The record used to fail to write (nan is not JSON) and say "failed", curve [].
    rec = run(make_config(DIVERGING, tmp_path))
    assert rec.status == "diverged" and "non-finite validation loss" in rec.reason and rec.steps == 4
    raw = _record_file(tmp_path, rec).read_text()
    assert "NaN" not in raw and "Infinity" not in raw
    on_disk = records.read_record(_record_file(tmp_path, rec))
    assert on_disk.status == "diverged" and on_disk.steps == 4
    assert [p.step for p in on_disk.curve] == [0, 2, 4]
    assert on_disk.curve[-1].val_loss is None  # nan, written as null
    assert all(math.isfinite(p.val_loss) for p in on_disk.curve[:-1])


def test_non_finite_numbers_are_written_as_null():
    assert records.finite_or_none({"a": [1.0, math.nan, {"b": -math.inf}], "c": 2}) == \
        {"a": [1.0, None, {"b": None}], "c": 2}


# -- corrupt records ---------------------------------------------------------------------------


@pytest.mark.slow  # over a second: outside the quick loop
def test_a_truncated_record_is_moved_aside_and_the_run_done_again(tmp_path, capsys):
    cfg = make_config(TINY, tmp_path)
    first = run(cfg)
    path = _record_file(tmp_path, first)
    for n in range(2):  # the second corruption must not overwrite the first one's copy
        path.write_text(path.read_text()[:100])
        again = run(cfg)
        assert again.status == "completed" and again.val_loss == first.val_loss
        assert records.read_record(path).val_loss == first.val_loss
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0] and "counts as not done" in err[0], err
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.name + ".corrupt", path.name + ".corrupt.1"])


def test_scan_sweep_returns_good_records_and_unreadable_files(tmp_path):
    rec = run(make_config(TINY, tmp_path))
    runs = records.runs_dir(tmp_path, "default")
    (runs / "broken.json").write_text('{"run_id": ')
    (runs / "list.json").write_text("[]")
    good, bad = records.scan_sweep(tmp_path / "default")
    assert [r.run_id for r in good] == [rec.run_id]
    assert [p.name for p, _ in bad] == ["broken.json", "list.json"]
    assert "not valid JSON" in bad[0][1] and "JSON object" in bad[1][1]
    with pytest.raises(records.RecordError):  # read_sweep still refuses a sweep it cannot read whole
        records.read_sweep(tmp_path / "default")
    assert (runs / "broken.json").exists()  # a reader that only looks leaves them in place
    good, bad = records.scan_sweep(tmp_path / "default", quarantine_corrupt=True)
    assert len(good) == 1 and all("moved to" in reason for _, reason in bad)
    assert not (runs / "broken.json").exists() and (runs / "broken.json.corrupt").exists()
    assert records.scan_sweep(tmp_path / "default") == (good, [])


# -- a corrupt checkpoint ----------------------------------------------------------------------


@pytest.mark.slow  # over half a second: kept out of the fast loop
def test_a_corrupt_checkpoint_is_moved_aside_and_the_run_starts_fresh(tmp_path, capsys):
    cfg = make_config(TINY, tmp_path)
    rid = records.run_id_of(cfg)
    ckpt = records.checkpoint_path(tmp_path, "default", rid)
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    rec = run(cfg)
    assert rec.status == "completed" and rec.steps == 100
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(ckpt) in err[0] and "starting the run fresh" in err[0], err
    assert (ckpt.parent / (ckpt.name + ".corrupt")).read_bytes().startswith(b"PK")
    assert not ckpt.exists()
    # Fresh means exactly the run that never had a checkpoint.
    clean = run(make_config([*TINY, "sweep_name=clean"], tmp_path))
    assert clean.val_loss == rec.val_loss


# -- a checkpoint the file system refuses ------------------------------------------------------


def _killed_at_call(monkeypatch, n: int) -> None:
    """End the run inside its ``n``-th training step of this start, as a kill would: no record,
    whatever checkpoint there is stays (SystemExit, which the run lets through)."""
    real = LossWindow.step
    calls = []

    def stepping(self, train_step, batch):
        calls.append(1)
        if len(calls) == n:
            raise SystemExit("killed")
        real(self, train_step, batch)

    monkeypatch.setattr(LossWindow, "step", stepping)


@pytest.mark.slow  # over half a second: kept out of the fast loop
def test_a_checkpoint_too_large_to_write_keeps_the_last_one_and_the_run_completes(tmp_path, monkeypatch, capsys):
    # A checkpoint after every step, so the good one is the step before the kill.
    args = [*TINY, "train.tokens=5120", "train.checkpoint_interval_seconds=0", "logging.quiet=false"]
    reference = run(make_config(args, tmp_path / "straight"))
    cfg = make_config(args, tmp_path)
    rid = reference.run_id
    ckpt = records.checkpoint_path(tmp_path, "default", rid)
    with monkeypatch.context() as m:
        _killed_at_call(m, 8)
        with pytest.raises(SystemExit):
            run(cfg)
    good = ckpt.read_bytes()  # step 7
    capsys.readouterr()
    refused = (f"run {rid}: cannot write checkpoint {ckpt}: File too large; training goes on, "
               "the checkpoint at step 7 is kept")

    # The next start may write no file as large as a checkpoint (the record, a few kB, still fits).
    with file_size_limit(len(good) // 2):
        with monkeypatch.context() as m:
            _killed_at_call(m, 6)  # step 12: five checkpoint writes refused by then
            with pytest.raises(SystemExit):
                run(cfg)
        out, err = capsys.readouterr()
        assert "resuming from step 7/20" in out
        assert err.splitlines() == [refused]  # said once, not at every write
        assert ckpt.read_bytes() == good  # the good checkpoint stays, and no temporary file beside it
        assert sorted(p.name for p in ckpt.parent.iterdir()) == [ckpt.name]
        assert records.find_record(tmp_path, "default", rid) is None  # no `failed` record to block a rerun

        # Left to run, it completes under the same limit: the checkpoint is a cache, the record the result.
        # (A start SIGKILLed mid-save would have left its temporary file: the next start removes it.)
        (ckpt.parent / f".{ckpt.name}.k1ll3d_x.tmp").write_bytes(good[:1000])
        rec = run(cfg)
    out, err = capsys.readouterr()
    assert "resuming from step 7/20" in out and err.splitlines() == [refused]
    assert rec.status == "completed" and rec.steps == 20 and list(ckpt.parent.iterdir()) == []
    assert rec.val_loss == reference.val_loss
    assert records.read_record(_record_file(tmp_path, rec)).status == "completed"


# -- edited data, old record -------------------------------------------------------------------


def test_run_id_is_pinned():
    # The exact id of a fixed config: an accidental change of what is hashed (a new key, a new
    # default) shows up here, since it would orphan every record already written.
    assert records.run_id_of(make_config(["train.tokens=100000"])) == "34b106eabd991689"


def test_editing_a_local_text_file_makes_a_new_run(tmp_path):
    from harness.data import text

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one paragraph.\n\nanother one.\n")
    cfg = make_config(["data=text_files", f"data.paths=[{corpus}]", "train.tokens=100000"], tmp_path)
    before = records.run_id_of(cfg)
    assert records.run_id_of(cfg) == before
    st = corpus.stat()
    assert (str(corpus), st.st_size, st.st_mtime_ns) in text._DIGESTS  # hashed once, then cached
    corpus.write_text("one paragraph.\n\nanother two.\n")  # same size, new content
    os.utime(corpus, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert records.run_id_of(cfg) != before
    # A file that is missing still has an id (the run then fails naming the file).
    corpus.unlink()
    assert len(records.run_id_of(cfg)) == 16


def test_a_completed_run_on_edited_text_is_not_already_completed(tmp_path, monkeypatch):
    # The record of the old content stays; the same config on the new content is another run.
    from harness.data import text

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("x\n\ny\n")
    cfg = make_config(["data=text_files", f"data.paths=[{corpus}]", *TINY], tmp_path)
    old = records.run_id_of(cfg)
    records.write_record(_fake_record(cfg, old), tmp_path)
    corpus.write_text("x\n\nz and more\n")
    new = records.run_id_of(cfg)
    assert new != old and records.find_record(tmp_path, "default", new) is None
    assert text.local_content_identity([str(corpus)])[0][1] == text._sha256_file(corpus)


def _fake_record(cfg, run_id):
    return records.RunRecord(
        run_id=run_id, status="completed", sweep_name=cfg.sweep_name, config=as_dict(cfg), shape={},
        params={}, tokens=1, steps=1, flops={}, val_loss=1.0, bayes_loss=None, curve=[], wall_seconds=0.0,
        tokens_per_second=None, mfu=None, peak_flops=None, device_name="", torch_version="",
        git_commit=None, data_fingerprint="", unique_tokens=None, epochs=None, seed=0, started_at="",
        ended_at="")


# -- unwritable results folder -----------------------------------------------------------------


def test_an_unwritable_runs_folder_stops_the_run_before_training(tmp_path, capsys):
    cfg = make_config(TINY, tmp_path)
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "runs").write_text("a file where the folder should be")
    with pytest.raises(records.ResultsNotWritable, match=str(tmp_path / "default" / "runs")):
        run(cfg)
    assert not (tmp_path / "default" / "checkpoints" / f"{records.run_id_of(cfg)}.pt").exists()
    # The CLI's task: one line, exit 1; in a sweep, no exit (the next jobs go on).
    dcfg = OmegaConf.create(as_dict(cfg))
    with pytest.raises(SystemExit) as exc:
        task(dcfg)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harness-train: cannot write to ") and "runs" in err[0]


def test_a_failed_final_write_keeps_the_record_in_a_fallback_file(tmp_path, monkeypatch):
    cfg = make_config(TINY, tmp_path)

    def refuse(rec, out_dir):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(records, "write_record", refuse)
    with pytest.raises(records.ResultsNotWritable) as exc:
        run(cfg)
    rid = records.run_id_of(cfg)
    kept = records.checkpoint_path(tmp_path, "default", rid).parent / f"{rid}.record.json"
    msg = str(exc.value)
    assert "\n" not in msg and str(kept) in msg and "Permission denied" in msg
    rec = records.read_record(kept)
    assert rec.status == "completed" and rec.steps == 100 and rec.curve
    # Once runs/ takes files again, the next start records the kept result instead of training.
    monkeypatch.undo()
    again = run(cfg)
    assert again.to_dict() == rec.to_dict() and not kept.exists()
    assert records.find_record(tmp_path, "default", rid).to_dict() == rec.to_dict()


def test_the_fallback_goes_to_the_temp_dir_when_the_checkpoint_folder_refuses(tmp_path, monkeypatch):
    cfg = make_config(TINY, tmp_path / "out")
    rec = _fake_record(cfg, "abc")
    (tmp_path / "out" / "default").mkdir(parents=True)
    (tmp_path / "out" / "default" / "checkpoints").write_text("not a folder")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    kept = records.write_fallback_record(rec, tmp_path / "out")
    assert kept == tmp_path / "harness-default-abc.record.json"
    assert records.read_record(kept).run_id == "abc"


# -- file modes --------------------------------------------------------------------------------


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_records_and_checkpoints_get_the_umask_mode(tmp_path, umask_027):
    import torch

    from harness.run.checkpoint import Checkpoint
    from harness.run.state import RunState
    from harness.run.step import TrainStep

    cfg = make_config(TINY, tmp_path)
    path = records.write_record(_fake_record(cfg, "abc"), tmp_path)
    assert path.stat().st_mode & 0o777 == 0o640
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ckpt = Checkpoint.of(cfg, "abc")
    ckpt.save(TrainStep(model, opt, sched, torch.device("cpu")), RunState(step=3))
    assert ckpt.path == records.checkpoint_path(tmp_path, "default", "abc")
    assert ckpt.path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in ckpt.path.parent.iterdir()] == ["abc.pt"]  # no temporary file left


# -- two identical runs at once ----------------------------------------------------------------


def test_a_run_in_progress_elsewhere_is_not_trained_twice(tmp_path, capsys):
    cfg = make_config(TINY, tmp_path)
    rid = records.run_id_of(cfg)
    with records.run_lock(tmp_path, "default", rid):  # as the other process would hold it
        with pytest.raises(records.RunInProgress, match=rf"run {rid} is in progress in another process \(pid {os.getpid()}\)"):
            run(cfg)
        assert not records.record_path(tmp_path, "default", rid).exists()
        with pytest.raises(SystemExit) as exc:
            task(OmegaConf.create(as_dict(cfg)))
        assert exc.value.code == 75
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in progress in another process" in err[0]
    # Killed or finished, the holder's lock is gone with it: the run proceeds.
    assert run(cfg).status == "completed"


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    import signal
    import subprocess
    import sys

    code = ("import sys, time; from harness import records\n"
            "with records.run_lock(sys.argv[1], 'default', 'abc'):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(records.RunInProgress, match=f"pid {proc.pid}"):
            with records.run_lock(tmp_path, "default", "abc"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with records.run_lock(tmp_path, "default", "abc"):
        pass


# -- end to end, in subprocesses ---------------------------------------------------------------

SWEEP_TINY = ["data.seq_len=16", "data.val_sequences=16", "model.n_layer=1", "model.d_model=16", "model.n_head=2",
              "train.batch_size=8", "train.threads=1", "logging.quiet=true", "sweep.fit=false",
              "sweep.record_wait_seconds=0"]


def _harness_train(args, **kw):
    import subprocess
    import sys

    # The console script's way in, so a multirun's task is importable by module.
    cmd = [sys.executable, "-c", "from harness.cli.train import main; main()", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


@pytest.mark.slow
def test_a_sweep_restart_with_corrupt_records_reruns_them_and_finishes(tmp_path):
    args = ["-m", *SWEEP_TINY, f"out_dir={tmp_path}", "sweep_name=s", "train.tokens=4096,8192"]
    first = _harness_train(args, cwd=tmp_path)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    runs = tmp_path / "s" / "runs"
    done = sorted(runs.glob("*.json"))
    assert len(done) == 2
    done[0].write_text(done[0].read_text()[:50])  # a planned run's record, truncated
    (runs / "stray.json").write_text("{")  # and a file no planned run owns
    again = _harness_train(args, cwd=tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0 and "Traceback" not in out + err, err[-3000:]
    assert "2 completed, 0 diverged, 0 failed (of 2 planned)" in out
    assert f"{done[0].name}.corrupt" in err and "counts as not done" in err
    assert f"unreadable record: {runs / 'stray.json'}" in out and "moved to stray.json.corrupt" in out
    good, bad = records.scan_sweep(tmp_path / "s")
    assert len(good) == 2 and bad == [] and all(r.status == "completed" for r in good)
    assert (runs / f"{done[0].name}.corrupt").exists() and (runs / "stray.json.corrupt").exists()


@pytest.mark.slow
def test_two_identical_runs_started_at_once_train_once(tmp_path):
    args = [*SWEEP_TINY, f"out_dir={tmp_path}", "train.tokens=1000000", "logging.quiet=false",
            "train.eval_interval=5"]
    first = _harness_train(args, cwd=tmp_path)
    for line in first.stdout:  # training is under way, so it holds the lock
        if "step 5/" in line:
            break
    second = _harness_train(args, cwd=tmp_path)
    out, err = second.communicate(timeout=300)
    first.kill()
    first.communicate()
    assert second.returncode == 75, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"is in progress in another process (pid {first.pid})" in lines[0], err
    assert "Traceback" not in out + err


def test_a_checkpoint_cut_short_mid_archive_is_corrupt_not_an_io_error(tmp_path, capsys):
    # torch.load on a zip archive cut in half raises OSError (Errno 22), which used to be taken
    # for an I/O problem: every retry failed and the checkpoint was never moved aside.
    import torch

    cfg = make_config(TINY, tmp_path)
    ckpt = records.checkpoint_path(tmp_path, "default", records.run_id_of(cfg))
    ckpt.parent.mkdir(parents=True)
    torch.save({"model": torch.zeros(20000), "state": {"step": 3}}, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    rec = run(cfg)
    assert rec.status == "completed" and rec.steps == 100
    assert "starting the run fresh" in capsys.readouterr().err
    assert (ckpt.parent / (ckpt.name + ".corrupt")).exists() and not ckpt.exists()
