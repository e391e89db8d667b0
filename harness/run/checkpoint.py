"""A run's checkpoint: everything that resumes it bit for bit (model, optimizer, schedule, the
run's state and the RNG), in <out_dir>/<sweep>/checkpoints/<run_id>.pt.

A checkpoint is only a cache of work: the run that cannot use one sets it aside and starts over,
the run that cannot write one keeps the one it had (``save`` raises ``ResultsNotWritable``), and
the run that writes its record removes it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

from harness import files, records
from harness.config import Config
from harness.errors import ResultsNotWritable
from harness.run.state import RunState
from harness.run.step import TrainStep


@dataclass
class Resumed:
    """What a checkpoint gives back besides the tensors it loads in place."""

    state: RunState
    # A trunk's curves of the branches it had not forked yet, by run id.
    branches: dict[str, RunState]


@dataclass(frozen=True)
class Checkpoint:
    path: Path

    @classmethod
    def of(cls, cfg: Config, run_id: str) -> Checkpoint:
        return cls(records.checkpoint_path(cfg.out_dir, cfg.sweep_name, run_id))

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, step: TrainStep, state: RunState, branches: dict[str, RunState] | None = None,
             lr: float | None = None) -> None:
        """Save what resumes the run bit for bit, whole or not at all (a kill mid-write leaves the
        previous checkpoint). A trunk also saves the curves of its branches not yet forked
        (``branches``). ``lr``: the learning rate of the next step, when the checkpoint is
        written for another run than the one training (a branch at its fork, whose next step is
        its cooldown's first, not the trunk's).

        Raises ResultsNotWritable, one line with the path and the OS's reason ("No space left on
        device", "File too large"), when the file system refuses the file; the previous
        checkpoint then stays as it was and no temporary file is left behind."""
        opt_state, sched_state = step.optimizer.state_dict(), step.scheduler.state_dict()
        if lr is not None:
            # What the branch's own LambdaLR would have set after this step: base lr x its factor.
            for group in opt_state["param_groups"]:
                group["lr"] = lr
            sched_state["_last_lr"] = [lr] * len(opt_state["param_groups"])
        payload = {
            "model": step.model.state_dict(),
            "optimizer": opt_state,
            "scheduler": sched_state,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "state": dict(vars(state)),
            "branch_states": {k: dict(vars(v)) for k, v in (branches or {}).items()},
        }
        try:
            files.atomic_write(self.path, lambda tmp: _save_to(payload, tmp))
        except (OSError, RuntimeError) as e:
            cause = os_error(e)
            if cause is None:  # not the file system's doing (a device error copying the state)
                raise
            reason = cause.strerror or str(cause)
            err = ResultsNotWritable(f"cannot write checkpoint {self.path}: {reason}")
            err.strerror = reason
            raise err from None

    def load(self, step: TrainStep) -> Resumed:
        """Load the checkpoint into the step's model, optimizer and scheduler, and the RNG.

        Raises OSError when the file cannot be read (permissions, I/O: not known to be corrupt),
        anything else when its content is unusable; then the model, optimizer and RNG may be
        half filled, and only a run built again from its seed is the run it would have been.
        """
        # The bytes are read first, so that an OSError here is the file system's and anything
        # torch raises afterwards, OSError included (a file cut short mid-archive gives "Invalid
        # argument"), is about the content: a corrupt checkpoint.
        blob = self.path.read_bytes()
        try:
            # weights_only=True: a checkpoint is data, never code; everything saved above is
            # tensors, numbers, strings, lists and dicts, which the safe unpickler accepts.
            ckpt = torch.load(io.BytesIO(blob), map_location=step.device, weights_only=True)
        except OSError as e:
            raise ValueError(f"not a readable torch archive ({e})") from None
        step.model.load_state_dict(ckpt["model"])
        step.optimizer.load_state_dict(ckpt["optimizer"])
        step.scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng_cpu"].cpu())
        if ckpt["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["rng_cuda"]])
        return Resumed(RunState(**ckpt["state"]),
                       {k: RunState(**v) for k, v in ckpt.get("branch_states", {}).items()})

    def set_aside(self) -> Path:
        """Move an unusable checkpoint out of the way, kept for inspection; returns where to."""
        return records.quarantine(self.path)

    def remove(self) -> None:
        """Delete the checkpoint and any write of it a killed process left unfinished. Only under
        the run's lock, as every use of a checkpoint is."""
        self.path.unlink(missing_ok=True)
        self.clear_unfinished()

    def clear_unfinished(self) -> list[Path]:
        """Delete the temporary files of writes of this checkpoint that a killed process left (a
        SIGKILL mid-save); returns them. Only under the run's lock: then no write of it is under way."""
        stale = files.unfinished_writes(self.path)
        for p in stale:
            p.unlink(missing_ok=True)
        return stale


def _save_to(payload: dict, path: Path) -> None:
    # Through a Python file, not torch.save(payload, path): torch's own writer reports a full
    # disk or a file-size limit as "enforce fail at inline_container.cc ... unexpected pos",
    # while Python's write raises the OSError that names the reason (kept as the context of the
    # RuntimeError torch raises on top of it: os_error).
    with open(path, "wb") as f:
        torch.save(payload, f)


def os_error(e: BaseException) -> OSError | None:
    """The OS's error behind ``e``: ``e`` itself, or the one it was raised from or while
    handling (torch's RuntimeError over the OSError its file's write raised); None if none."""
    seen: BaseException | None = e
    for _ in range(16):  # a chain is short; the bound only guards against a cycle
        if seen is None or isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
