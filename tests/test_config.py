import ast
import dataclasses
import logging
from pathlib import Path

import pytest

import harness.config as config_module
from harness.config import DATA_SCHEMAS, SyntheticDataConfig, TextDataConfig, validate
from harness.data import SOURCES
from harness.errors import ConfigError
from harness.records import run_id_of
from tests.helpers import make_config

T = "train.tokens=100000"


@pytest.mark.parametrize("overrides, message", [
    ([T, "model.n_head=3"], r"^model\.n_head: 3 heads do not divide model\.d_model=64$"),
    ([T, "model.arch=mamba"], r"^model\.arch: unknown arch 'mamba'"),
    ([T, "model.n_ctx=32", "data.seq_len=64"], r"^data\.seq_len: 64 is above the model's context model\.n_ctx=32$"),
    ([], r"^train\.tokens: set exactly one budget"),
    (["train.tokens=1000", "train.flops=1e9"], r"^train\.tokens: set exactly one budget.*got train\.tokens, train\.flops"),
    (["train.tokens=-5"], r"^train\.tokens: must be positive"),
    ([T, "schedule.name=linear"], r"^schedule\.name: 'linear' is not one of cosine, wsd, constant$"),
    (["train.flops=1e9", "train.flops_convention=8ND"], r"^train\.flops_convention: '8ND' is not one of"),
    ([T, "logging.wandb=maybe"], r"^logging\.wandb: 'maybe' is not one of disabled, offline, online$"),
    ([T, "device=tpu"], r"^device: 'tpu' is not one of"),
    ([T, "model.arch=llama", "model.d_model=66", "model.n_head=6"], r"^model\.n_head: llama's rotary embeddings need an even head size"),
    ([T, "train.eval_batch_size=0"], r"^train\.eval_batch_size: must be at least 1, got 0$"),
    ([T, "train.eval_sequences=-1"], r"^train\.eval_sequences: must be >= 0, got -1$"),
    ([T, "seed=-1"], r"^seed: must be >= 0, got -1$"),
    ([T, "data.seed=-3"], r"^data\.seed: must be >= 0, got -3$"),
    ([T, "sweep_name=.."], r"^sweep_name: must name a folder inside out_dir, got '\.\.'$"),
    ([T, "sweep_name=."], r"^sweep_name: must name a folder inside out_dir, got '\.'$"),
    ([T, "sweep_name=../elsewhere"], r"^sweep_name: must be one folder name without path separators, got '\.\./elsewhere'$"),
    ([T, "sweep_name=a/b"], r"^sweep_name: must be one folder name without path separators, got 'a/b'$"),
    ([T, "sweep_name=''"], r"^sweep_name: must be a non-empty folder name$"),
])
def test_invalid_configs_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(make_config(overrides))


def test_the_data_group_is_typed_and_its_schema_fixes_the_kind():
    synth = make_config([T]).data
    assert type(synth) is SyntheticDataConfig and synth.kind == "synthetic" and synth.n_topics == 128
    text = make_config([T, "data=text_files", "data.paths=[a.txt]"]).data
    assert type(text) is TextDataConfig and text.kind == "text" and text.paths == ["a.txt"]
    # A key of another kind is a typo for this one: the typed group refuses it while composing.
    with pytest.raises(Exception, match="n_topics"):
        make_config([T, "data=text_files", "data.paths=[a.txt]", "data.n_topics=3"])
    with pytest.raises(ConfigError, match=r"^data\.kind: 'text' is not what the data group chose \(SyntheticDataConfig\)"):
        validate(make_config([T, "data.kind=text"]))
    # One table of kinds: every kind has a schema in the ConfigStore and a reader in harness.data.
    assert set(DATA_SCHEMAS) == set(SOURCES) == {"synthetic", "text"}


def test_config_imports_no_upper_floor():
    # config is a lower floor: the sweeps, training and the fitter import it, never the reverse.
    tree = ast.parse(Path(config_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.split(".")[:2] in (["harness", "sweep"], ["harness", "train"],
                                                               ["harness", "fit"])}


def test_a_backslash_in_sweep_name_is_a_path_separator_too():
    cfg = dataclasses.replace(make_config([T]), sweep_name="a\\b")
    with pytest.raises(ConfigError, match=r"^sweep_name: must be one folder name without path separators"):
        validate(cfg)


def test_the_cli_refuses_a_sweep_name_outside_out_dir_before_hydra_writes(tmp_path, monkeypatch, capsys):
    from harness.cli.train import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["harness-train", T, f"out_dir={tmp_path / 'out'}", "sweep_name=../escape"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == ("harness-train: invalid config: sweep_name: must be one folder name without path "
                   "separators, got '../escape'\n")
    assert list(tmp_path.iterdir()) == []  # neither out/ nor escape/ (Hydra's folder) was made


@pytest.mark.slow  # over a second: kept out of the fast loop
def test_the_cli_gives_an_invalid_config_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    # In-process (tests/run/test_train.py runs the same through a subprocess, marked slow).
    from hydra.core.global_hydra import GlobalHydra

    from harness.cli.train import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["harness-train", T, "model.n_head=3", f"out_dir={tmp_path / 'out'}"])
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with pytest.raises(SystemExit) as e:
            main()
    finally:  # Hydra configured logging and its global state for the job: leave neither behind
        GlobalHydra.instance().clear()
        for h in set(root.handlers) - set(handlers):
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
    assert e.value.code == 2
    assert capsys.readouterr().err == ("harness-train: invalid config: model.n_head: 3 heads do not divide "
                                       "model.d_model=64\n")
    assert not (tmp_path / "out" / "default" / "runs").exists()


@pytest.mark.slow  # about a second: outside the quick loop
def test_run_id_ignores_output_and_logging_keys_only():
    base = make_config(["train.tokens=100000"])
    same = make_config(["train.tokens=100000", "out_dir=/elsewhere", "sweep_name=other",
                        "logging.wandb=offline", "device=cpu", "model.name=ladder_xs"])
    assert run_id_of(base) == run_id_of(same)
    for change in (["seed=1"], ["model.d_model=128"], ["optim.lr=1e-3"], ["data.seq_len=32"],
                   ["schedule.name=wsd"], ["train.batch_size=16"]):
        assert run_id_of(make_config(["train.tokens=100000", *change])) != run_id_of(base), change


def test_run_id_is_stable_across_processes():
    # The id is a hash of sorted JSON, so it is the same in every process and Python version;
    # pin it so an accidental change of the hashed content shows up as a test failure.
    cfg = make_config(["train.tokens=100000"])
    assert run_id_of(cfg) == "34b106eabd991689"  # the id every record of this config carries


def test_the_deprecated_fit_convention_keys_are_read_as_the_new_ones(capsys):
    cfg = make_config([T, "sweep.fit_flops=kaplan", "sweep.fit_params=non_embedding"])
    assert (cfg.sweep.fit_flops_convention, cfg.sweep.fit_param_convention) == ("kaplan", "non_embedding")
    assert cfg.sweep.fit_flops is None and cfg.sweep.fit_params is None  # one spelling in the record
    err = capsys.readouterr().err
    assert "sweep.fit_flops is deprecated; it is read as sweep.fit_flops_convention" in err


def test_a_deprecated_key_that_disagrees_with_the_new_one_is_refused():
    with pytest.raises(ConfigError, match=r"^sweep\.fit_flops: deprecated spelling of sweep\.fit_flops_convention"):
        make_config([T, "sweep.fit_flops=kaplan", "sweep.fit_flops_convention=chinchilla"])


def test_a_priors_deprecated_convention_keys_are_read_as_the_new_ones():
    prior = config_module.PriorConfig(kind="fit", c=1e13, n_opt=1e5, a=0.5, convention="kaplan",
                                      n_convention="non_embedding")
    assert (prior.flops_convention, prior.param_convention) == ("kaplan", "non_embedding")


# -- unknown keys (issue 22): refused however they arrive, naming the nearest known key ------------


@pytest.mark.parametrize("override, message", [
    # The fix Hydra's own error suggests for model.widht=64: before, the run trained the default
    # width under the same run id.
    ("+model.widht=64", "model.widht: unknown key (did you mean model.d_model?)"),
    ("++model.widht=64", "model.widht: unknown key (did you mean model.d_model?)"),
    ("+data.n_topicz=3", "data.n_topicz: unknown key (did you mean data.n_topics?)"),
    ("+model.lr=1e-3", "model.lr: unknown key (did you mean optim.lr?)"),
    ("+tokens=5", "tokens: unknown key (did you mean train.tokens?)"),
    ("+sweep.design.priors.0.sorce=x", "sweep.design.priors[0].sorce: unknown key (did you mean "
                                       "sweep.design.priors[0].source?)"),
    ("+colour=blue", "colour: unknown key (docs/configuration.md lists every key)"),
])
def test_a_key_no_config_declares_is_refused_however_it_is_added(override, message):
    with pytest.raises(ConfigError) as e:
        make_config([T, override])
    assert str(e.value) == message


def test_an_unknown_key_in_an_untyped_config_is_a_config_error_not_a_type_error():
    from omegaconf import OmegaConf

    from harness.config import as_dict, to_config

    d = as_dict(make_config([T]))
    assert to_config(OmegaConf.create(d)) == make_config([T])  # every key a record holds is known
    d["train"]["tokns"] = 5
    with pytest.raises(ConfigError, match=r"^train\.tokns: unknown key \(did you mean train\.tokens\?\)$"):
        to_config(OmegaConf.create(d))
    d["train"].pop("tokns")
    d["sweep"]["design"]["priors"][0]["n_opts"] = 1.0
    with pytest.raises(ConfigError, match=r"^sweep\.design\.priors\[0\]\.n_opts: unknown key \(did you mean "
                                          r"sweep\.design\.priors\[0\]\.n_opt\?\)$"):
        to_config(OmegaConf.create(d))


def test_the_keys_the_project_itself_adds_are_known():
    # A group added with +group=option, the presets' resolvers (hp.*, design.*), the deprecated
    # spellings each config class still reads and Hydra's own node: none of them is an unknown key.
    cfg = make_config(["model=ladder_s", "+sweep/hparams=porian", "+lr_mult=x2", "sweep.fit_flops=kaplan"])
    assert cfg.model.d_model > 64 and cfg.optim.lr > 0 and cfg.sweep.fit_flops_convention == "kaplan"
    for preset in ("demo", "chinchilla_isoflop", "lr_tune"):
        assert config_module.unknown_keys(_composed_with_hydra_node([f"sweep={preset}"])) == []


def _composed_with_hydra_node(overrides):
    """The composed DictConfig with its hydra node, as harness-train's preflight sees it."""
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs
    from harness.shapes.resolvers import register_resolvers
    from tests.helpers import CONF

    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)
