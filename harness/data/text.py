"""Real text: documents through `datasets`, a byte-level BPE trained on the training split, and
memory-mapped token files cached under a content fingerprint.

Pipeline (``prepare_cache``; ``TextSource`` then only reads its output):

1. Load documents with ``datasets.load_dataset``. One call site serves both origins: a hub
   dataset (``path=data.hub_path, name=data.hub_name, split=data.split``) or local files
   (``data.paths``), whose builder follows the extension: ``.txt`` -> ``text``,
   ``.json/.jsonl(.gz)`` -> ``json``, ``.parquet`` -> ``parquet`` (mixed lists are loaded builder
   by builder, in the order given). ``data.text_field`` names the column (``.txt`` always gives
   ``text``). For ``.txt``, ``data.text_sample_by`` says what a document is; the default
   ``paragraph`` means chunks separated by blank (whitespace-only) lines, so a play's speeches or
   a WikiText paragraph are documents and a single file can still be split by document. Empty
   documents are dropped. ``data.max_documents`` keeps the first documents.
2. Split by document: a permutation seeded by ``data.seed`` puts ``round(val_fraction * n)``
   documents (at least 1, at most n-1) in validation, in that random order; the rest stay in
   corpus order for training.
3. Train a byte-level BPE (``tokenizers``) on the training documents only; ``<|endoftext|>`` is
   its one special token and is appended after every document. The same string inside a
   document is encoded as ordinary text (``encode_special_tokens``; ``TextSource.tokenizer()``
   sets it, since tokenizer.json does not keep it).
4. Tokenise (batched; the Rust side already uses every core, so no worker processes) into
   ``train.bin`` / ``val.bin`` (uint16 up to 65,536 tokens, else uint32), next to
   ``tokenizer.json`` and ``meta.json``, in ``<data.cache_dir>/<fingerprint>/``.

The fingerprint hashes the corpus (each local file's bytes; for a loaded hub dataset its own
``datasets`` fingerprint; for a hub stream its identity and ``data.revision``, so pin a revision
when it matters) with every setting that changes the tokens. ``seq_len``, ``val_sequences`` and
``unique_tokens`` only choose windows from the files, so they share one cache. The cache is built
in a temporary folder and renamed into place, under a file lock: racing runs of a sweep wait for
one build, and a killed build leaves only a temporary folder that the next build deletes.

Training windows are the non-overlapping ``seq_len + 1``-token windows of ``train.bin`` (of its
first ``data.unique_tokens`` tokens when set), visited epoch by epoch in a random order
(``epoch_indices``), so batch k is a pure function of (run seed, k). Validation is the first
``data.val_sequences`` windows of ``val.bin``: fixed by the data config alone.

Measured on the development machine (2 CPU cores, shared: load average about 8 during the
runs), the full ELTeC-eng corpus (99 novels, 63,009,375 characters; ``data=eltec``: val_fraction
0.05 = 94 train / 5 validation novels); token counts include one end-of-document token per
novel, the ratios do not:

  vocab 4096: 16,948,714 train + 502,837 val tokens = 0.2770 tokens per character (3.61 chars/token)
  vocab 8192: 15,423,487 train + 463,542 val tokens = 0.2521 tokens per character (3.97 chars/token)

Building the cache took 57 s of CPU time at either vocabulary (121-131 s wall on the loaded machine;
loading the gzip JSON Lines about 2 s, then BPE training and encoding, both multi-threaded in Rust).
Reusing it takes 0.02-0.08 s (hashing the 23 MB file). Two builds gave identical counts.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from harness.config import TextDataConfig
from harness.data import epoch_indices
from harness.errors import DataError
from harness.files import atomic_write, atomic_write_text, file_lock
from harness.paths import resolve_path

log = logging.getLogger(__name__)

# Bump when anything below changes the tokens produced from the same documents and settings.
TOKENIZER_VERSION = "bytelevel-bpe-1"
EOD = "<|endoftext|>"
BUILDERS = {".txt": "text", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")
SAMPLE_BY = ("paragraph", "document", "line")
_ENCODE_BATCH = 512  # documents per encode call: large enough to keep both threads busy


def _cache_root(cfg: TextDataConfig) -> Path:
    root = cfg.cache_dir
    if "${" in root:  # a config built without Hydra still holds the interpolation
        from omegaconf import OmegaConf

        root = OmegaConf.create({"d": root}).d
    return resolve_path(root)


def builder_of(path: str) -> str:
    name = path.lower()
    for comp in COMPRESSIONS:
        if name.endswith(comp):
            name = name[: -len(comp)]
            break
    ext = os.path.splitext(name)[1]
    if ext not in BUILDERS:
        raise DataError(f"data.paths: {path}: unknown extension {ext or '(none)'!r}; "
                        "use .txt, .json, .jsonl(.gz) or .parquet")
    return BUILDERS[ext]


def _local_files(cfg: TextDataConfig) -> list[tuple[str, Path]]:
    """(builder, path) per local file (globs expanded, sorted), checked before anything loads."""
    return local_files(cfg.paths)


def local_files(paths: list[str]) -> list[tuple[str, Path]]:
    out = []
    for p in paths:
        builder = builder_of(str(p))
        path = resolve_path(str(p))
        if any(c in str(p) for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
            if not matches:
                raise DataError(f"data.paths: no files match {path}")
            out.extend((builder_of(str(m)), m) for m in matches if m.is_file())
            continue
        if not path.is_file():
            raise DataError(f"data.paths: no such file: {path}")
        out.append((builder, path))
    return out


# sha256 of a file's bytes, by (path, size, mtime_ns): the run_id hashes local data for every
# planned run of a sweep (the planner and the sweep callback too), so each file is read once per
# process; an edit changes size or mtime and is read again.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _sha256_file(path: Path) -> str:
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _hash_files(files: list[tuple[str, Path]]) -> list[list[str]]:
    """[builder, sha256] per file: what both the run identity and the cache fingerprint hash."""
    return [[b, _sha256_file(p)] for b, p in files]


def local_content_identity(paths: list[str]) -> list[Any]:
    """The content of local data files, for the run_id (harness.records.run_id_of): [builder,
    sha256] per file, as the cache's fingerprint hashes them. A file that cannot be read gives a
    marker instead, so the id still exists and the run itself then fails with the data error."""
    try:
        return _hash_files(local_files(paths))
    except (DataError, OSError) as e:
        return [["unreadable", str(e)]]


def _settings(cfg: TextDataConfig) -> dict[str, Any]:
    """Every setting that changes the token files (and nothing that only picks windows)."""
    return {"tokenizer": TOKENIZER_VERSION, "vocab_size": cfg.vocab_size,
            "val_fraction": cfg.val_fraction, "seed": cfg.seed, "max_documents": cfg.max_documents,
            "text_field": cfg.text_field, "text_sample_by": cfg.text_sample_by}


def _check_settings(cfg: TextDataConfig) -> None:
    if cfg.text_sample_by not in SAMPLE_BY:
        raise DataError(f"data.text_sample_by: {cfg.text_sample_by!r} is not one of {', '.join(SAMPLE_BY)}")
    if cfg.max_documents is not None and cfg.max_documents < 2:
        raise DataError(f"data.max_documents: need at least 2 documents (train and validation), "
                        f"got {cfg.max_documents}")
    if not cfg.paths and not cfg.hub_path:
        raise DataError("data.paths: give local files in data.paths or a hub dataset in data.hub_path")
    if not 0.0 < cfg.val_fraction < 1.0:
        raise DataError(f"data.val_fraction: must be in (0, 1), got {cfg.val_fraction}")


# ---------------------------------------------------------------------------------------------
# Loading documents


def open_dataset(path: str, *, name: str | None = None, data_files: list[str] | None = None,
                 split: str = "train", streaming: bool = False, revision: str | None = None,
                 **builder_kwargs: Any):
    """``datasets.load_dataset`` for a hub dataset or a local builder, with one-line errors."""
    import datasets

    try:
        return datasets.load_dataset(path, name=name, data_files=data_files, split=split,
                                     streaming=streaming, revision=revision, **builder_kwargs)
    except Exception as e:  # the hub and the builders raise many types; say which load failed
        first = (str(e).strip().splitlines() or [""])[0]
        what = f"{path!r}" + (f" (name={name!r})" if name else "") + f" split={split!r}"
        if data_files:
            what += f" files={[os.path.basename(f) for f in data_files]}"
        raise DataError(f"cannot load {what}: {type(e).__name__}: {first}") from e


def _column(ds: Any, field: str, where: str, max_rows: int | None) -> list[str]:
    if max_rows is not None:
        ds = ds.take(max_rows)
    cols = ds.column_names
    if cols is None:  # a stream without declared features: look at its first row
        first = next(iter(ds), None)
        cols = list(first) if first is not None else [field]
    if field not in cols:
        raise DataError(f"data.text_field: no column {field!r} in {where}; it has {', '.join(cols)}")
    docs: list[str] = []
    for batch in ds.select_columns([field]).iter(batch_size=1000):
        docs.extend(batch[field])
    return docs


def _split_txt(texts: list[str], sample_by: str) -> list[str]:
    if sample_by == "paragraph":
        # Blank lines may hold spaces (WikiText's do); runs of them are one separator.
        return [p for t in texts for p in re.split(r"\n[^\S\n]*\n(?:[^\S\n]*\n)*", t)]
    if sample_by == "line":
        return [line for t in texts for line in t.split("\n")]
    return texts


def _groups(files: list[tuple[str, Path]]) -> Iterator[tuple[str, list[str]]]:
    """Consecutive files of one builder, so a mixed list keeps its order in few loads."""
    i = 0
    while i < len(files):
        j = i
        while j < len(files) and files[j][0] == files[i][0]:
            j += 1
        yield files[i][0], [str(p) for _, p in files[i:j]]
        i = j


def load_local_documents(cfg: TextDataConfig, files: list[tuple[str, Path]]) -> list[str]:
    docs: list[str] = []
    for builder, group in _groups(files):
        left = None if cfg.max_documents is None else cfg.max_documents - len(docs)
        if left is not None and left <= 0:
            break
        if builder == "text":
            # Whole files, split here: the text builder's own paragraph mode splits on "\n\n"
            # only, which leaves a WikiText file (blank lines of one space) as one document.
            ds = open_dataset("text", data_files=group, split="train", streaming=cfg.streaming,
                              sample_by="document")
            got = _split_txt(_column(ds, "text", ", ".join(group), None), cfg.text_sample_by)
        else:
            ds = open_dataset(builder, data_files=group, split="train", streaming=cfg.streaming)
            got = _column(ds, cfg.text_field, ", ".join(group), left)
        docs.extend(got if left is None else got[:left])
    return docs


def _open_hub(cfg: TextDataConfig):
    return open_dataset(cfg.hub_path, name=cfg.hub_name, split=cfg.split, streaming=cfg.streaming,
                        revision=cfg.revision)


# ---------------------------------------------------------------------------------------------
# The cache


def corpus_identity(cfg: TextDataConfig) -> tuple[dict[str, Any], Any]:
    """What the corpus is, for the fingerprint, and the opened hub dataset when opening it was
    needed to say so. Local files are hashed and a hub stream is named without loading anything,
    so that a cache hit never touches `datasets` (nor the network)."""
    if cfg.paths:
        return {"files": _hash_files(_local_files(cfg))}, None
    ident: dict[str, Any] = {"hub": [cfg.hub_path, cfg.hub_name, cfg.split, cfg.revision]}
    if cfg.streaming:
        return ident, None
    ds = _open_hub(cfg)
    fp = getattr(ds, "_fingerprint", None)
    if fp:
        ident["datasets_fingerprint"] = fp
    return ident, ds


def fingerprint_of(identity: dict[str, Any], cfg: TextDataConfig) -> str:
    blob = json.dumps({"corpus": identity, "settings": _settings(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _is_built(d: Path) -> bool:
    return (d / "meta.json").is_file()


def prepare_cache(cfg: TextDataConfig) -> Path:
    """The cache folder for this data config, built first if absent."""
    _check_settings(cfg)
    identity, ds = corpus_identity(cfg)
    fp = fingerprint_of(identity, cfg)
    root = _cache_root(cfg)
    final = root / fp
    if _is_built(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f"{fp}.lock", on_wait=lambda: log.info("waiting for another process building %s", fp)):
        if _is_built(final):  # another process built it while we waited
            return final
        # Under the lock, any temporary folder of this fingerprint is a killed build's leftover.
        for stale in root.glob(f".tmp-{fp}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f".tmp-{fp}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            t0 = time.perf_counter()
            if cfg.paths:
                docs = load_local_documents(cfg, _local_files(cfg))
            else:
                docs = _column(ds if ds is not None else _open_hub(cfg), cfg.text_field,
                               cfg.hub_path, cfg.max_documents)
            meta = build(docs, cfg, tmp)
            meta.update(fingerprint=fp, corpus=identity, build_seconds=time.perf_counter() - t0)
            # Last: its presence marks a complete build.
            atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2, sort_keys=True))
            try:
                os.rename(tmp, final)
            except OSError:
                if not _is_built(final):  # a lockless platform's race is the only excuse
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("built text cache %s in %.1fs", final, meta["build_seconds"])
    return final


def split_documents(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) document indices: validation in a seeded random order, train in
    corpus order."""
    if n < 2:
        raise DataError(f"need at least 2 documents to split train and validation, got {n}"
                        + (" (a .txt file is one document with data.text_sample_by=document)" if n == 1 else ""))
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), order[:n_val]


def train_tokenizer(docs: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOD], show_progress=False,
                                  # every byte from the start, so no text is ever out of vocabulary
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(docs, trainer, length=len(docs))
    # A document that contains the text "<|endoftext|>" must not end early: encode it as text.
    # tokenizer.json does not store this flag, so every loader sets it (see TextSource.tokenizer).
    tok.encode_special_tokens = True
    return tok


def _write_tokens(tok: Any, docs: list[str], path: Path, dtype: np.dtype, eod: int) -> int:
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # fast: no offsets
    counts: list[int] = []

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            for i in range(0, len(docs), _ENCODE_BATCH):
                ids: list[int] = []
                for enc in encode(docs[i:i + _ENCODE_BATCH], add_special_tokens=False):
                    ids.extend(enc.ids)
                    ids.append(eod)
                np.asarray(ids, dtype=dtype).tofile(f)
                counts.append(len(ids))

    atomic_write(path, write)
    return sum(counts)


def build(docs: list[str], cfg: TextDataConfig, out: Path) -> dict[str, Any]:
    """Tokenizer and token files for ``docs`` into ``out``; returns the meta (counts, settings)."""
    n_loaded = len(docs)
    docs = [d for d in docs if d and not d.isspace()]
    if not docs:
        raise DataError(f"no documents with text in {', '.join(cfg.paths) or cfg.hub_path} "
                        f"({n_loaded} loaded, all empty)")
    train_idx, val_idx = split_documents(len(docs), cfg.val_fraction, cfg.seed)
    train_docs = [docs[i] for i in train_idx]
    val_docs = [docs[i] for i in val_idx]
    tok = train_tokenizer(train_docs, cfg.vocab_size)
    atomic_write(out / "tokenizer.json", lambda tmp: tok.save(str(tmp)))
    vocab = tok.get_vocab_size()
    eod = tok.token_to_id(EOD)
    dtype = np.dtype(np.uint16 if vocab <= 1 << 16 else np.uint32)
    n_train = _write_tokens(tok, train_docs, out / "train.bin", dtype, eod)
    n_val = _write_tokens(tok, val_docs, out / "val.bin", dtype, eod)
    import datasets
    import tokenizers

    return {"settings": _settings(cfg), "vocab_size": vocab, "eod_id": eod, "dtype": dtype.name,
            "documents": {"loaded": n_loaded, "empty_dropped": n_loaded - len(docs),
                          "train": len(train_docs), "val": len(val_docs)},
            "chars": {"train": sum(map(len, train_docs)), "val": sum(map(len, val_docs))},
            "tokens": {"train": n_train, "val": n_val},  # both include one EOD per document
            "versions": {"tokenizers": tokenizers.__version__, "datasets": datasets.__version__}}


# ---------------------------------------------------------------------------------------------
# The token source


@dataclass
class _Windows:
    tokens: np.ndarray  # memory-mapped
    width: int  # seq_len + 1

    def gather(self, idx: np.ndarray) -> torch.Tensor:
        offsets = idx[:, None] * self.width + np.arange(self.width)
        return torch.from_numpy(self.tokens[offsets].astype(np.int64))


class TextSource:
    """A ``TokenSource`` over cached token files (built on first use)."""

    def __init__(self, cfg: TextDataConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.seq_len = cfg.seq_len
        self.bayes_loss = None
        self.cache_path = prepare_cache(cfg)
        self.meta = json.loads((self.cache_path / "meta.json").read_text())
        self.fingerprint: str = self.meta["fingerprint"]
        self.vocab_size: int = self.meta["vocab_size"]
        self.eod_id: int = self.meta["eod_id"]
        self.tokenizer_path = self.cache_path / "tokenizer.json"
        dtype = np.dtype(self.meta["dtype"])
        width = self.seq_len + 1
        train = np.memmap(self.cache_path / "train.bin", dtype=dtype, mode="r")
        val = np.memmap(self.cache_path / "val.bin", dtype=dtype, mode="r")
        self.train_tokens = len(train)  # every training token in the cache

        usable = len(train)
        if cfg.unique_tokens is not None:
            if cfg.unique_tokens > len(train):
                raise DataError(f"data.unique_tokens: {cfg.unique_tokens:,} is more than the "
                                f"{len(train):,} training tokens of this corpus")
            usable = cfg.unique_tokens
        self.n_train_windows = usable // width
        if self.n_train_windows < 1:
            raise DataError(f"training split has {usable:,} tokens, fewer than one sequence of "
                            f"data.seq_len+1={width}")
        # Tokens predicted in one pass over the windows, so tokens_trained / epoch_tokens counts
        # epochs exactly (each window of seq_len+1 tokens gives seq_len targets).
        self.epoch_tokens = self.n_train_windows * self.seq_len
        self.unique_tokens = self.epoch_tokens if cfg.unique_tokens is not None else None

        need = cfg.val_sequences * width
        if len(val) < need:
            raise DataError(
                f"validation split has {len(val):,} tokens ({self.meta['documents']['val']} documents) but "
                f"data.val_sequences={cfg.val_sequences} windows of {width} need {need:,}; "
                f"raise data.val_fraction or lower data.val_sequences")
        self._train = _Windows(train, width)
        self._val = _Windows(val, width)

    def train_batch(self, step: int, batch_size: int) -> torch.Tensor:
        idx = epoch_indices(self.n_train_windows, step * batch_size, batch_size, self.seed)
        return self._train.gather(idx)

    def val_tokens(self) -> torch.Tensor:
        return self._val.gather(np.arange(self.cfg.val_sequences))

    def epochs(self, tokens: int) -> float:
        """Passes over the training windows that ``tokens`` trained tokens make."""
        return tokens / self.epoch_tokens

    def tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.tokenizer_path))
        tok.encode_special_tokens = True  # as when the token files were written
        return tok
