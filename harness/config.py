"""Typed configuration: the dataclasses behind every Hydra group, and their validation.

The YAML files in ``conf/`` only pick values; every key they may set is declared here, so a typo
in an override is an error before anything runs: Hydra refuses ``model.widht=64`` while composing,
and ``to_config`` refuses a key that Hydra lets through (``+model.widht=64``, ``++...``, a key added
to a list item), which OmegaConf would otherwise keep as a stray attribute of the dataclass while the
run trains the default (``check_known_keys``). ``register_configs()`` puts the schemas in
Hydra's ConfigStore (the resolvers some presets call, ``${hp.lr:...}``, belong to the sweeps and
are registered by harness.shapes.resolvers.register_resolvers); ``validate()`` checks what types cannot (heads dividing the width, a budget of
at least one step, ...) and raises ``ConfigError`` with a one-line message naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from omegaconf import MISSING

from harness.errors import ConfigError
from harness.flops import CONVENTIONS as FLOP_CONVENTIONS
from harness.flops import PARAM_CONVENTIONS, Shape

# The Hydra configs (conf/ in the repository) as the package an install provides: editable installs
# map it to conf/, a wheel carries the YAML inside it. Hydra reads it as pkg://harness.conf.
CONF_PACKAGE = "harness.conf"

ARCHS = ("gpt2", "llama")
SCHEDULES = ("cosine", "wsd", "constant")
DECAY_SHAPES = ("linear", "1-sqrt")
DEVICES = ("auto", "cpu", "cuda")
WANDB_MODES = ("disabled", "offline", "online")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")




# Keys renamed so that one concept has one name everywhere (the FLOP and parameter conventions are
# flops_convention and param_convention in every config, record, fit and command line): each config
# class that renamed keys lists them in RENAMED, and the old spellings are still read, named as
# deprecated once per process.
_warned: set[str] = set()


class RenamedKeys:
    """A config dataclass some of whose keys were renamed: ``RENAMED`` maps each new name to its
    deprecated one. After construction each deprecated field is read into its new name and
    cleared, so a record written from the config holds one spelling."""

    WHERE: ClassVar[str] = ""
    RENAMED: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for new, old in self.RENAMED.items():
            setattr(self, new, self.read_renamed(self, new))
            setattr(self, old, None)

    @classmethod
    def read_renamed(cls, node: Any, new: str) -> Any:
        """Key ``new`` of a node of this class (the dataclass, a dict or a DictConfig), or its
        deprecated spelling when only that is set (said once on stderr); both set and different:
        an error. A node that has neither gets the field's default."""
        old, where = cls.RENAMED[new], cls.WHERE
        default = cls.__dataclass_fields__[new].default
        get = node.get if hasattr(node, "get") else (lambda k, d=None: getattr(node, k, d))
        value, legacy = get(new), get(old)
        if legacy is None:
            return default if value is None else value
        if value not in (None, default, legacy):
            raise ConfigError(f"{where}.{old}: deprecated spelling of {where}.{new}, and the two disagree "
                              f"({legacy!r} and {value!r}); keep {where}.{new}")
        if f"{where}.{old}" not in _warned:
            _warned.add(f"{where}.{old}")
            print(f"harness: {where}.{old} is deprecated; it is read as {where}.{new}", file=sys.stderr, flush=True)
        return legacy


@dataclass
class ModelConfig:
    arch: str = "gpt2"  # gpt2 (learned positions, GELU MLP, LayerNorm) | llama (RoPE, SwiGLU, RMSNorm)
    n_layer: int = 2  # transformer blocks
    d_model: int = 64  # residual stream width
    n_head: int = 2  # attention heads; must divide d_model
    # Feed-forward width; None takes the arch's default (4·d for gpt2, 8/3·d rounded up to a
    # multiple of 8 for llama, which keeps the MLP's parameter count near gpt2's 8·d²).
    d_ff: Optional[int] = None
    # Longest context the model supports; None means exactly data.seq_len.
    n_ctx: Optional[int] = None
    tie_embeddings: bool = True  # share the input embedding with the output head
    init_std: float = 0.02  # std of the normal init of weight matrices
    name: Optional[str] = None  # the size's name on a ladder (ladder_xs, ...), for reading results

    def shape(self, vocab_size: int, seq_len: int) -> Shape:
        """The Shape this model has on a data set (its vocabulary and the sequence length trained
        on): the one place a Shape is built from model settings, so counts agree everywhere."""
        return Shape(arch=self.arch, n_layer=self.n_layer, d_model=self.d_model, n_head=self.n_head,
                     d_ff=d_ff_of(self), n_ctx=self.n_ctx if self.n_ctx is not None else seq_len,
                     seq_len=seq_len, vocab_size=vocab_size, tied=self.tie_embeddings)


@dataclass
class DataConfig:
    """What every token source shares. The data group picks one concrete kind (its schema below):
    ``data=synthetic`` a SyntheticDataConfig, ``data=text_files`` (or a corpus preset) a
    TextDataConfig. The type says the kind; ``kind`` repeats it in records for readers of the JSON."""

    kind: str = MISSING  # synthetic | text; set by the data group's schema, not by hand
    seq_len: int = 64  # tokens per training sequence (the context trained on)
    # Validation set: this many sequences of seq_len tokens, fixed by the data config alone so every
    # run that shares it evaluates on exactly the same tokens.
    val_sequences: int = 256
    seed: int = 1234  # fixes the data (the language, or the train/validation split)
    # Repeat a fixed training set of this many tokens (data-constrained studies); None = fresh data.
    unique_tokens: Optional[int] = None
    vocab_size: int = MISSING  # tokens in the vocabulary (each kind has its default)


@dataclass
class SyntheticDataConfig(DataConfig):
    """A generated language with known per-token probabilities (see harness/data/synthetic.py).

    The defaults are tuned so the CPU demo's budgets (1e11-3e12 FLOPs) sit in the power-law part
    of the loss curves; results/synthetic_tuning.md has what was measured.
    """

    kind: str = "synthetic"
    vocab_size: int = 128  # tokens in the language
    n_topics: int = 128  # topics, each its own Markov chain; rarer ones are what bigger models learn
    topic_zipf: float = 1.4  # exponent of the Zipf prior over topics
    n_successors: int = 4  # successors per token within a topic's Markov chain
    successor_zipf: float = 1.0  # exponent of the Zipf weights over a token's successors
    # Share of every step taken by a chain common to all topics: structure every document teaches.
    shared_weight: float = 0.0
    # Token popularity q(v) ∝ (v+1)^-token_zipf: successors are drawn from it (0 = uniform).
    token_zipf: float = 1.0



@dataclass
class TextDataConfig(DataConfig):
    """Real text through `datasets`: a hub dataset (hub_path) or local files (paths)."""

    kind: str = "text"
    hub_path: Optional[str] = None  # e.g. roneneldan/TinyStories; used when paths is empty
    hub_name: Optional[str] = None  # the dataset's config name, e.g. sample-10BT
    paths: list[str] = field(default_factory=list)  # local txt / jsonl(.gz) / parquet files
    revision: Optional[str] = None  # hub commit, branch or tag; pins the content a cache stands for
    # Read the hub dataset as a stream: with max_documents, only the first shards are fetched.
    streaming: bool = False
    split: str = "train"  # the dataset split the documents come from (validation is held out of it)
    text_field: str = "text"  # the column (jsonl/parquet/hub) that holds a document's text
    # What one document of a .txt file is: paragraph (blank-line separated), document (the
    # whole file) or line.
    text_sample_by: str = "paragraph"
    max_documents: Optional[int] = None  # take only the first documents (hub streams are huge)
    val_fraction: float = 0.01  # share of documents held out for validation
    vocab_size: int = 4096  # BPE vocabulary trained on the training documents
    # Tokenizers and tokenised corpora are cached here, keyed by what they were built from.
    cache_dir: str = "${oc.env:HARNESS_CACHE,${oc.env:HOME}/.cache/harness}"


# Each kind of data and its schema; a data group's YAML extends "<kind>_schema" from this table.
DATA_SCHEMAS: dict[str, type[DataConfig]] = {"synthetic": SyntheticDataConfig, "text": TextDataConfig}


@dataclass
class OptimConfig:
    lr: float = 3e-3  # peak learning rate
    weight_decay: float = 0.1  # decoupled, on matrices only (not biases, norms or embeddings)
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.95  # AdamW second-moment decay
    eps: float = 1e-8  # AdamW epsilon
    grad_clip: float = 1.0  # max global grad norm; 0 turns clipping off


@dataclass
class ScheduleConfig:
    name: str = "cosine"  # cosine | wsd | constant
    # Warmup in tokens, or as a fraction of the run's tokens when warmup_tokens is None.
    warmup_tokens: Optional[int] = None
    warmup_fraction: float = 0.05  # warmup as a share of the run (when warmup_tokens is None)
    final_lr_fraction: float = 0.1  # cosine and wsd end at this fraction of the peak
    decay_fraction: float = 0.2  # wsd: the share of the run spent decaying (the cooldown)
    # wsd: the cooldown's shape: linear, or 1-sqrt (Hägele et al. 2024's best: the rate falls as
    # 1 - sqrt(progress): it drops fastest at the cooldown's start and flattens towards its end; to a
    # final 0.1 of the peak its mean over the cooldown is 0.40 of the peak, linear's 0.55).
    decay_shape: str = "linear"
    # wsd or constant: budgets of branches, in the unit of the run's own budget (train.tokens,
    # train.flops or train.tokens_per_param), each below it. The run trains its constant-rate trunk
    # once and forks each branch where that branch's cooldown starts (constant: where it ends);
    # every branch's record is the record of the standalone run with that budget
    # (harness/run/branches.py). Empty: no branches.
    branches: list[float] = field(default_factory=list)


@dataclass
class TrainConfig:
    batch_size: int = 32  # sequences per optimizer step
    # The budget: exactly one of these three. The run derives its number of steps from it.
    tokens: Optional[int] = None
    flops: Optional[float] = None  # training FLOPs, counted in train.flops_convention
    tokens_per_param: Optional[float] = None  # D = this x N (N per train.param_convention)
    flops_convention: str = "6ND"  # which FLOP count train.flops is measured in
    param_convention: str = "total"  # which N train.tokens_per_param multiplies
    eval_interval: int = 0  # steps between evaluations; 0 = about train.evals_per_run per run
    # Evaluations per run when eval_interval is 0. A whole-curve law (--law annealing) wants more
    # than the 10 a final-loss study needs.
    evals_per_run: int = 10
    eval_batch_size: int = 64  # sequences per forward pass when evaluating
    eval_sequences: int = 0  # sequences per intermediate evaluation (0 = the whole set)
    checkpoint_interval_seconds: float = 30.0  # save a resumable checkpoint this often
    compile: bool = False  # torch.compile (CUDA only)
    # torch.compile's mode when train.compile is on (CUDA only): default | reduce-overhead (CUDA
    # graphs: the step's kernels replayed in one launch, for tiny shapes whose kernels are shorter
    # than their launch) | max-autotune. Not part of the run id (records.RUN_ID_EXCLUDED): it
    # changes no result on the CPU, and ids made before it existed stay what they were.
    compile_mode: str = "default"
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    threads: Optional[int] = None  # torch CPU threads; None leaves torch's default


@dataclass
class LoggingConfig:
    wandb: str = "disabled"  # disabled | offline | online
    project: str = "harness"  # W&B project
    entity: Optional[str] = None  # W&B entity (team); None = your default
    log_interval: int = 0  # steps between train-loss log lines; 0 = about 20 per run
    quiet: bool = False  # print only errors


@dataclass
class PriorConfig(RenamedKeys):
    """Where an IsoFLOP design expects N_opt(C): N_opt = n_opt * (C / c) ** a."""

    # Presets written before the rename say convention and n_convention (read by RenamedKeys).
    WHERE: ClassVar[str] = "sweep.design.priors"
    RENAMED: ClassVar[dict[str, str]] = {"flops_convention": "convention", "param_convention": "n_convention"}

    # chinchilla: D_opt / N_opt = tokens_per_param at every C (a = 1/2); fit: a fitted allocation,
    # read from fit_file (a fit.json) or stated as the numbers c, n_opt, a (with their source).
    kind: str = "chinchilla"
    tokens_per_param: float = 20.0  # kind=chinchilla: D_opt / N_opt
    fit_file: Optional[str] = None  # kind=fit: a fit.json to read (relative to the working folder)
    law: str = "approach2"  # kind=fit with fit_file: whose allocation (approach2, chinchilla, ...)
    c: Optional[float] = None  # kind=fit without a file: the reference budget C
    n_opt: Optional[float] = None  # ... N_opt at c
    a: Optional[float] = None  # ... and the exponent a (N_opt ~ C^a)
    flops_convention: str = "6ND"  # the FLOP convention C is counted in (must be train.flops_convention)
    param_convention: str = "total"  # the N it predicts: total | non_embedding
    source: str = ""  # where the numbers come from (a committed fit.json and law, and why)
    convention: Optional[str] = None  # deprecated spelling of flops_convention, still read
    n_convention: Optional[str] = None  # deprecated spelling of param_convention, still read


@dataclass
class DesignConfig:
    """An IsoFLOP design (harness/shapes/design.py): for each budget, the dense ladder's shapes
    from N_opt / span to N_opt * span, with N_opt from each prior (several priors: from the
    smallest prediction / span to the largest * span). Empty budgets = no design (the preset's
    hydra.sweeper.params is an ordinary grid); conf/sweep/design/isoflop.yaml wires one in."""

    budgets: list[float] = field(default_factory=list)  # compute budgets C, in train.flops_convention
    priors: list[PriorConfig] = field(default_factory=lambda: [PriorConfig()])  # predictions of N_opt(C)
    span: float = 3.0  # factor around the predicted N_opt that the shapes cover
    # This run's (budget, shape), "<C>@<dense shape>": set by the sweep, one value per job.
    point: Optional[str] = None


@dataclass
class SweepConfig(RenamedKeys):
    """Settings of a multirun as a whole; none of them changes what a single run computes."""

    # Presets written before the rename say fit_params and fit_flops (read by RenamedKeys).
    WHERE: ClassVar[str] = "sweep"
    RENAMED: ClassVar[dict[str, str]] = {"fit_param_convention": "fit_params", "fit_flops_convention": "fit_flops"}

    retry_failed: bool = False  # rerun runs recorded as failed (by default a sweep skips them)
    fit: bool = True  # run the fitter when the multirun ends
    fit_laws: list[str] = field(default_factory=list)  # empty = the fitter picks what the data supports
    fit_bootstrap: int = 200  # bootstrap resamples for the fit's confidence intervals (0 = none)
    fit_holdout: int = 0  # runs of largest C left out of the fit and predicted from it
    fit_param_convention: str = "total"  # the fit's N: total | non_embedding
    fit_flops_convention: str = "6ND"  # the fit's C: 6ND | 6ND_nonemb | kaplan | chinchilla
    # A learning-rate tuning result (a tuning sweep folder or its tuning.json, harness-tune): the
    # end-of-sweep fit flags the runs that trained off their tuned rate. None: no flags.
    fit_tuning: Optional[str] = None
    # With fit_tuning: the weight, in (0, 1), that the flagged runs keep in the laws that take point
    # weights (approach 2's parabolas, approach 3's Huber sum), as harness-fit --downweight-undertuned.
    # None: they are flagged and counted in full.
    fit_undertuned_weight: Optional[float] = None
    # Shared filesystems (SLURM) can show a finished job's record late: the end-of-sweep summary
    # waits up to this long for records of runs it launched before calling them missing.
    record_wait_seconds: float = 30.0
    progress: bool = True  # a line per finished run with a k/n counter
    # Multi-GPU boxes: runs take GPUs round-robin by job number; this many runs may share one GPU.
    runs_per_gpu: int = 1
    design: DesignConfig = field(default_factory=DesignConfig)  # an IsoFLOP design (empty: none)
    fit_params: Optional[str] = None  # deprecated spelling of fit_param_convention, still read
    fit_flops: Optional[str] = None  # deprecated spelling of fit_flops_convention, still read


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = MISSING  # a SyntheticDataConfig or TextDataConfig, chosen by the data group
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    seed: int = 0  # model init and training-data order
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out_dir: str = "results"  # records go to <out_dir>/<sweep_name>/runs/<run_id>.json
    sweep_name: str = "default"  # the folder that groups runs (a sweep) under out_dir


def conf_dir() -> Path:
    """The folder holding the installed Hydra configs (config.yaml and its groups)."""
    from importlib.resources import files

    return Path(str(files(CONF_PACKAGE)))


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (YAML in conf/ extends them)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    for kind, schema in DATA_SCHEMAS.items():
        cs.store(group="data", name=f"{kind}_schema", node=schema)
    cs.store(group="optim", name="optim_schema", node=OptimConfig)
    cs.store(group="schedule", name="schedule_schema", node=ScheduleConfig)
    cs.store(group="train", name="train_schema", node=TrainConfig)
    cs.store(group="logging", name="logging_schema", node=LoggingConfig)
    cs.store(group="sweep", name="sweep_schema", node=SweepConfig)


# Names a user may reach for that the configs spell otherwise: an unknown key close to one of them
# is answered with the key it stands for (model.widht: did you mean model.d_model?).
ALIASES: dict[str, str] = {
    "width": "d_model", "hidden_size": "d_model", "n_embd": "d_model", "dim": "d_model",
    "depth": "n_layer", "layers": "n_layer", "n_layers": "n_layer", "num_layers": "n_layer",
    "heads": "n_head", "n_heads": "n_head", "num_heads": "n_head", "learning_rate": "lr",
    "batch": "batch_size", "vocab": "vocab_size", "context": "n_ctx",
}

# Config's groups and the dataclasses their keys come from (data: whichever kind its group chose),
# for naming the group a misplaced key belongs to (+model.lr=...: did you mean optim.lr?).
GROUPS: dict[str, tuple[type, ...]] = {
    "model": (ModelConfig,), "data": tuple(DATA_SCHEMAS.values()), "optim": (OptimConfig,),
    "schedule": (ScheduleConfig,), "train": (TrainConfig,), "logging": (LoggingConfig,), "sweep": (SweepConfig,),
}


def _nearest(leaf: str, names: list[str]) -> tuple[float, str] | None:
    """The name among ``names`` (or an alias of one) closest to ``leaf``, with its similarity;
    None when nothing is close enough to be a typo of it."""
    options = {n: n for n in names} | {a: n for a, n in ALIASES.items() if n in names}
    low = leaf.lower()
    best = difflib.get_close_matches(low, list(options), n=1, cutoff=0.75)
    return (difflib.SequenceMatcher(None, low, best[0]).ratio(), options[best[0]]) if best else None


def unknown_key_message(path: str, cls: type | None) -> str:
    """One line for the key ``path`` that the dataclass ``cls`` (where it was found) does not
    declare, naming the nearest known key: in the same place first, else in another group."""
    parent, _, leaf = path.rpartition(".")
    hint = None
    if cls is not None and dataclasses.is_dataclass(cls):
        near = _nearest(leaf, [f.name for f in dataclasses.fields(cls)])
        hint = f"{parent}.{near[1]}" if near and parent else near[1] if near else None
    if hint is None:
        places = [("", [f.name for f in dataclasses.fields(Config) if f.name not in GROUPS])]
        places += [(g, list(dict.fromkeys(f.name for c in classes for f in dataclasses.fields(c))))
                   for g, classes in GROUPS.items()]
        scored = [(near[0], f"{g}.{near[1]}" if g else near[1])
                  for g, names in places if (near := _nearest(leaf, names)) is not None]
        hint = max(scored)[1] if scored else None
    return f"{path}: unknown key " + (f"(did you mean {hint}?)" if hint else "(docs/configuration.md lists every key)")


def unknown_keys(cfg: Any) -> list[tuple[str, type]]:
    """Keys of a composed config (a DictConfig) that no dataclass declares, each with the dataclass
    it sits in. Hydra adds a key that ``+key=`` or ``++key=`` names to a typed node without asking
    its schema, and OmegaConf.to_object would keep it as a stray attribute that nothing reads. The
    root's ``hydra`` node is Hydra's own; a node of no dataclass (an untyped dict) is not judged."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    found: list[tuple[str, type]] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, (DictConfig, ListConfig)) or node._is_none() or node._is_missing() \
                or node._is_interpolation():
            return
        if isinstance(node, ListConfig):
            for i in range(len(node)):
                walk(node._get_node(i), f"{path}[{i}]")
            return
        cls = OmegaConf.get_type(node)
        declared = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
        for key in node.keys():
            sub = f"{path}.{key}" if path else str(key)
            if not path and key == "hydra":
                continue
            if declared is not None and key not in declared:
                found.append((sub, cls))  # type: ignore[arg-type]
            else:
                walk(node._get_node(key), sub)

    walk(cfg, "")
    return found


def check_known_keys(cfg: Any) -> None:
    """Refuse a composed config holding a key that no config class declares (``unknown_keys``):
    ConfigError, one line naming the first such key and the nearest known one."""
    found = unknown_keys(cfg)
    if found:
        raise ConfigError(unknown_key_message(*found[0]))


def to_config(cfg: Any) -> Config:
    """Turn a Hydra DictConfig into the typed dataclasses (resolving interpolations); a key that no
    dataclass declares is a ConfigError, however it got in (``check_known_keys``)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(cfg, DictConfig):
        check_known_keys(cfg)
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        msg = str(e).splitlines()[0]
        raise ConfigError(f"{key}: {msg}" if key else msg) from None
    if isinstance(obj, dict):  # an untyped config (e.g. built in a test): type it here
        obj = _from_dict(obj)
    return obj


def _known(d: dict[str, Any], cls: type, where: str, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """``d`` when each of its keys is a field of ``cls`` (or in ``also``); else the ConfigError of
    the first that is not."""
    names = {f.name for f in dataclasses.fields(cls)} | set(also)
    for key in d:
        if key not in names:
            raise ConfigError(unknown_key_message(f"{where}.{key}" if where else str(key), cls))
    return d


def _from_dict(d: dict[str, Any]) -> Config:
    _known(d, Config, "", also=("hydra",))
    data = dict(d.get("data") or {})
    kind = data.get("kind")
    data_cls = DATA_SCHEMAS.get(kind)
    if data_cls is None:
        raise ConfigError(f"data.kind: {kind!r} is not one of {', '.join(DATA_SCHEMAS)}")
    parts = {"model": ModelConfig, "optim": OptimConfig, "schedule": ScheduleConfig,
             "train": TrainConfig, "logging": LoggingConfig, "sweep": SweepConfig}
    kwargs: dict[str, Any] = {k: cls(**_known(d.get(k) or {}, cls, k)) for k, cls in parts.items()}
    if isinstance(kwargs["sweep"].design, dict):
        des = _known(dict(kwargs["sweep"].design), DesignConfig, "sweep.design")
        des["priors"] = [PriorConfig(**_known(p, PriorConfig, f"sweep.design.priors[{i}]"))
                         for i, p in enumerate(des.get("priors", [{}]))]
        kwargs["sweep"].design = DesignConfig(**des)
    kwargs["data"] = data_cls(**_known(data, data_cls, "data"))
    for k in ("seed", "device", "out_dir", "sweep_name"):
        if k in d:
            kwargs[k] = d[k]
    return Config(**kwargs)


def as_dict(cfg: Config) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg)


def d_ff_of(m: ModelConfig) -> int:
    if m.d_ff is not None:
        return m.d_ff
    if m.arch == "llama":
        return 8 * math.ceil(8 * m.d_model / 3 / 8)
    return 4 * m.d_model


def sweep_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be the folder of a sweep under out_dir (None when it can): it must be
    one folder name, so that everything a run writes stays inside <out_dir>/<sweep_name>/."""
    if not name:
        return "must be a non-empty folder name"
    if name in (".", ".."):
        return f"must name a folder inside out_dir, got {name!r}"
    if any(sep in name for sep in {"/", "\\", os.sep, os.altsep or "/"}):
        return f"must be one folder name without path separators, got {name!r}"
    return None


def _need(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def _one_of(value: str, allowed, key: str) -> None:
    _need(value in allowed, key, f"{value!r} is not one of {', '.join(allowed)}")


def validate(cfg: Config) -> None:
    """Checks that types alone cannot express; the first problem found is raised."""
    _check_model(cfg.model, cfg.data)
    _check_data(cfg.data)
    _check_train(cfg.train)
    _check_optim(cfg.optim)
    _check_schedule(cfg.schedule, cfg.train)
    _check_run(cfg)


def _check_model(m: ModelConfig, d: Any) -> None:
    _need(m.arch in ARCHS, "model.arch", f"unknown arch {m.arch!r}; choose one of {', '.join(ARCHS)}")
    for key in ("n_layer", "d_model", "n_head"):
        _need(getattr(m, key) >= 1, f"model.{key}", f"must be at least 1, got {getattr(m, key)}")
    _need(m.d_model % m.n_head == 0, "model.n_head", f"{m.n_head} heads do not divide model.d_model={m.d_model}")
    if m.arch == "llama":
        _need((m.d_model // m.n_head) % 2 == 0, "model.n_head",
              f"llama's rotary embeddings need an even head size, got {m.d_model // m.n_head}")
    _need(m.d_ff is None or m.d_ff >= 1, "model.d_ff", f"must be at least 1, got {m.d_ff}")
    if m.n_ctx is not None:
        _need(d.seq_len <= m.n_ctx, "data.seq_len", f"{d.seq_len} is above the model's context model.n_ctx={m.n_ctx}")


def _check_data(d: Any) -> None:
    _need(DATA_SCHEMAS.get(d.kind) is type(d), "data.kind",
          f"{d.kind!r} is not what the data group chose ({type(d).__name__}); pick another group instead, "
          "e.g. data=text_files")
    _need(d.seq_len >= 2, "data.seq_len", f"must be at least 2, got {d.seq_len}")
    _need(d.seed >= 0, "data.seed", f"must be >= 0, got {d.seed}")
    _need(d.val_sequences >= 1, "data.val_sequences", f"must be at least 1, got {d.val_sequences}")
    _need(d.unique_tokens is None or d.unique_tokens >= d.seq_len + 1, "data.unique_tokens",
          f"must hold at least one sequence of data.seq_len+1 tokens, got {d.unique_tokens}")
    _need(d.vocab_size >= 2, "data.vocab_size", f"must be at least 2, got {d.vocab_size}")
    if isinstance(d, TextDataConfig):
        _need(bool(d.paths) or bool(d.hub_path), "data.paths",
              "give local files in data.paths or a hub dataset in data.hub_path")
        _need(0.0 < d.val_fraction < 1.0, "data.val_fraction", f"must be in (0, 1), got {d.val_fraction}")
        _need(d.vocab_size >= 260, "data.vocab_size",
              f"a byte-level BPE needs at least 260 tokens (256 bytes + specials), got {d.vocab_size}")
    if isinstance(d, SyntheticDataConfig):
        _need(d.n_topics >= 1, "data.n_topics", f"must be at least 1, got {d.n_topics}")
        _need(1 <= d.n_successors <= d.vocab_size, "data.n_successors",
              f"must be between 1 and data.vocab_size={d.vocab_size}, got {d.n_successors}")


def _check_train(t: TrainConfig) -> None:
    budgets = {k: getattr(t, k) for k in ("tokens", "flops", "tokens_per_param") if getattr(t, k) is not None}
    _need(len(budgets) == 1, "train.tokens",
          "set exactly one budget: train.tokens, train.flops or train.tokens_per_param"
          + (f" (got {', '.join('train.' + k for k in budgets)})" if budgets else ""))
    for k, v in budgets.items():
        _need(v > 0, f"train.{k}", f"must be positive, got {v}")
    _one_of(t.flops_convention, FLOP_CONVENTIONS, "train.flops_convention")
    _one_of(t.param_convention, PARAM_CONVENTIONS, "train.param_convention")
    _one_of(t.precision, ("auto", "fp32", "bf16"), "train.precision")
    _one_of(t.compile_mode, COMPILE_MODES, "train.compile_mode")
    for key in ("batch_size", "evals_per_run", "eval_batch_size"):
        _need(getattr(t, key) >= 1, f"train.{key}", f"must be at least 1, got {getattr(t, key)}")
    for key in ("eval_interval", "eval_sequences"):
        _need(getattr(t, key) >= 0, f"train.{key}", f"must be >= 0, got {getattr(t, key)}")


def _check_optim(o: OptimConfig) -> None:
    _need(o.lr > 0, "optim.lr", f"must be positive, got {o.lr}")
    _need(o.weight_decay >= 0, "optim.weight_decay", f"must be >= 0, got {o.weight_decay}")
    _need(0 <= o.beta1 < 1, "optim.beta1", f"must be in [0, 1), got {o.beta1}")
    _need(0 <= o.beta2 < 1, "optim.beta2", f"must be in [0, 1), got {o.beta2}")
    _need(o.grad_clip >= 0, "optim.grad_clip", f"must be >= 0, got {o.grad_clip}")


def _check_schedule(s: ScheduleConfig, t: TrainConfig) -> None:
    _one_of(s.name, SCHEDULES, "schedule.name")
    _need(s.warmup_tokens is None or s.warmup_tokens >= 0, "schedule.warmup_tokens",
          f"must be >= 0, got {s.warmup_tokens}")
    _need(0 <= s.warmup_fraction < 1, "schedule.warmup_fraction", f"must be in [0, 1), got {s.warmup_fraction}")
    _need(0 <= s.final_lr_fraction <= 1, "schedule.final_lr_fraction", f"must be in [0, 1], got {s.final_lr_fraction}")
    _need(0 < s.decay_fraction <= 1, "schedule.decay_fraction", f"must be in (0, 1], got {s.decay_fraction}")
    _one_of(s.decay_shape, DECAY_SHAPES, "schedule.decay_shape")
    if not s.branches:
        return
    _need(s.name in ("wsd", "constant"), "schedule.branches",
          f"branches need schedule=wsd or constant (a constant-rate trunk to fork from), not {s.name!r}")
    # A warmup set as a share of the run ends at a different step in each branch, so the
    # branches would not share the trunk's first steps.
    _need(s.warmup_tokens is not None, "schedule.warmup_tokens",
          "cooldown branches need a warmup in tokens, the same for every branch length "
          "(schedule.warmup_fraction depends on the run's length); set schedule.warmup_tokens "
          "or load the per-size rule (+sweep/hparams=porian)")
    own = t.tokens if t.tokens is not None else t.flops if t.flops is not None else t.tokens_per_param
    for b in s.branches:
        _need(own is None or 0 < b < own, "schedule.branches",
              f"each branch's budget must be positive and below the run's own ({own:g}), got {b:g}")


def _check_run(cfg: Config) -> None:
    _need(cfg.seed >= 0, "seed", f"must be >= 0, got {cfg.seed}")
    dev = cfg.device
    _need(dev in DEVICES or dev.startswith("cuda:"), "device", f"{dev!r} is not one of auto, cpu, cuda, cuda:N")
    _one_of(cfg.logging.wandb, WANDB_MODES, "logging.wandb")
    sw = cfg.sweep
    _need(sw.runs_per_gpu >= 1, "sweep.runs_per_gpu", f"must be at least 1, got {sw.runs_per_gpu}")
    _one_of(sw.fit_param_convention, PARAM_CONVENTIONS, "sweep.fit_param_convention")
    _one_of(sw.fit_flops_convention, FLOP_CONVENTIONS, "sweep.fit_flops_convention")
    problem = sweep_name_problem(cfg.sweep_name)
    _need(problem is None, "sweep_name", problem or "")
