"""What the cluster launchers' configs ask of submitit: the executor hydra-submitit-launcher builds
from conf/hydra/launcher/slurm.yaml (and its one-machine rehearsal, local_cluster.yaml), caught
before it submits, and the sbatch script SLURM would get."""

import os

import submitit
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from harness.config import register_configs
from harness.shapes.resolvers import register_resolvers
from tests.helpers import CONF


class _Submitted(Exception):
    pass


def _executor(monkeypatch, tmp_path, launcher):
    """The submitit executor the launcher config builds, with its parameters set, as it submits."""
    caught = {}

    class Catching(submitit.AutoExecutor):
        def map_array(self, fn, *iterables):
            caught["executor"] = self._executor
            raise _Submitted

    monkeypatch.setattr(submitit, "AutoExecutor", Catching)
    # submitit's SLURM executor looks for srun before anything else; nothing here runs it.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                      return_hydra_config=True)
    plugin = instantiate(cfg.hydra.launcher)
    plugin.config = cfg
    try:
        plugin.launch([["train.tokens=4096"]], initial_job_idx=0)
    except _Submitted:
        pass
    return caught["executor"]


def test_slurm_jobs_are_warned_before_their_limit_and_requeued_after_it(monkeypatch, tmp_path):
    ex = _executor(monkeypatch, tmp_path, "slurm")
    assert type(ex).__name__ == "SlurmExecutor"
    # The plugin's default is 0: a run at its time limit would end there instead of being requeued.
    assert ex.max_num_timeout == 3
    sbatch = ex._make_submission_file_text("python -u -m submitit.core._submit", "uid").splitlines()
    for line in ("#SBATCH --signal=USR2@120", "#SBATCH --time=120", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --ntasks-per-node=1", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32GB"):
        assert line in sbatch
    assert ex.parameters["array_parallelism"] == 16


def test_the_local_rehearsal_is_the_same_job_on_one_machine(monkeypatch, tmp_path):
    ex = _executor(monkeypatch, tmp_path, "local_cluster")
    assert type(ex).__name__ == "LocalExecutor"
    assert ex.max_num_timeout == 3  # requeues after a time limit as slurm.yaml does
    assert ex.parameters["timeout_min"] == 120 and ex.parameters["tasks_per_node"] == 1
    assert ex.parameters["gpus_per_node"] == 0  # the jobs see no GPU: the rehearsal trains on the CPU
