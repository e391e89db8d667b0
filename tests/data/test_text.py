"""The real-text pipeline (harness/data/text.py) on the shared corpora and small files made here.

Never the hub: `datasets` runs offline with its cache inside tmp_path, and the hub code path is
driven through a stand-in ``datasets.load_dataset`` that records its arguments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from harness.config import TextDataConfig
from harness.data import text
from harness.data.text import TextSource
from harness.errors import DataError

SEQ = 32


@pytest.fixture(autouse=True)
def offline(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # `datasets` read these at import; its loaders look at the module attributes on every call.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf"))
    datasets.disable_progress_bars()


def cfg_for(cache: Path, paths, **kw) -> TextDataConfig:
    base = dict(paths=[str(p) for p in paths], cache_dir=str(cache), seq_len=SEQ, val_sequences=8,
                vocab_size=512, val_fraction=0.1)
    base.update(kw)
    return TextDataConfig(**base)


def docs_of(tokens: np.ndarray, src: TextSource) -> list[str]:
    """Decode a token file back into its documents (EOD ends each one)."""
    tok = src.tokenizer()
    ends = np.flatnonzero(tokens == src.eod_id)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [tok.decode(tokens[s:e].tolist()) for s, e in zip(starts, ends)]


def token_file(src: TextSource, name: str) -> np.ndarray:
    return np.fromfile(src.cache_path / name, dtype=src.meta["dtype"])


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def numbered_docs(n: int) -> list[str]:
    # Distinct documents with shared words, so BPE has something to merge.
    return [f"Document {i}: the cat sat on mat number {i * 7 % 13} and then ran home.\nEnd {i}."
            for i in range(n)]


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory):
    """Tiny Shakespeare built once for the tests that only read it."""
    from tests.conftest import require_shared

    path = require_shared("tiny_shakespeare", "input.txt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf"))
        cfg = cfg_for(tmp_path_factory.mktemp("cache"), [path])
        return path, cfg, TextSource(cfg, seed=0)


# --- the shared corpora ------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shakespeare_paragraphs_are_documents_and_round_trip(shakespeare):
    path, cfg, src = shakespeare
    raw = path.read_text()
    paragraphs = re.split(r"\n(?:[ \t]*\n)+", raw)  # runs of blank lines end a paragraph
    assert src.meta["documents"] == {"loaded": 7222, "empty_dropped": 0, "train": 6500, "val": 722}
    assert len(paragraphs) == 7222
    assert src.vocab_size == 512 and src.meta["dtype"] == "uint16"
    assert src.meta["chars"]["train"] + src.meta["chars"]["val"] == sum(map(len, paragraphs))
    train_idx, val_idx = text.split_documents(7222, 0.1, cfg.seed)
    # The token files decode to exactly the documents, train in corpus order, val in split order.
    assert docs_of(token_file(src, "train.bin"), src) == [paragraphs[i] for i in train_idx]
    assert docs_of(token_file(src, "val.bin"), src) == [paragraphs[i] for i in val_idx]
    assert src.train_tokens == src.meta["tokens"]["train"] == len(token_file(src, "train.bin"))


@pytest.mark.shared_data
def test_tokenizer_round_trips_any_text(shakespeare):
    tok = shakespeare[2].tokenizer()
    for s in ["First Citizen:\nBefore we proceed", "Café — naïve façade, 東京, 😀\t\r\n  x",
              "<|endoftext|> as text"]:
        assert tok.decode(tok.encode(s).ids) == s
    # Trained BPE merges: common English compresses well below one token per character.
    line = "What say you to the king? I will not speak of it."
    assert len(tok.encode(line).ids) < 0.5 * len(line)


@pytest.mark.shared_data
def test_batches_are_windows_of_train_bin_and_deterministic(shakespeare):
    _, cfg, src = shakespeare
    train = token_file(src, "train.bin")
    width = SEQ + 1
    assert src.n_train_windows == len(train) // width
    b = src.train_batch(3, 4)
    assert b.dtype == torch.int64 and b.shape == (4, width)
    idx = text.epoch_indices(src.n_train_windows, 12, 4, seed=0)
    assert np.array_equal(b.numpy(), np.stack([train[i * width:(i + 1) * width] for i in idx]))
    again = TextSource(cfg, seed=0)
    assert torch.equal(again.train_batch(3, 4), b)
    assert not torch.equal(TextSource(cfg, seed=1).train_batch(3, 4), b)
    # Validation: the first val_sequences windows of val.bin, whatever the run seed.
    val = token_file(src, "val.bin")
    v = TextSource(cfg, seed=5).val_tokens()
    assert v.shape == (8, width) and v.dtype == torch.int64
    assert np.array_equal(v.numpy().ravel(), val[:8 * width])


@pytest.mark.slow
@pytest.mark.shared_data
def test_eltec_novels_are_documents(shared_data, tmp_path):
    path = shared_data / "eltec_eng" / "eltec_eng.jsonl.gz"
    cfg = cfg_for(tmp_path, [path], max_documents=3, val_fraction=0.3, vocab_size=1024)
    src = TextSource(cfg, seed=0)
    novels = datasets.load_dataset("json", data_files=str(path), split="train").take(3)["text"]
    assert src.meta["documents"] == {"loaded": 3, "empty_dropped": 0, "train": 2, "val": 1}
    train_idx, val_idx = text.split_documents(3, 0.3, cfg.seed)
    assert docs_of(token_file(src, "val.bin"), src) == [novels[i] for i in val_idx]
    assert src.meta["chars"]["train"] == sum(len(novels[i]) for i in train_idx)
    assert src.vocab_size == 1024


@pytest.mark.slow
@pytest.mark.shared_data
def test_wikitext_two_files_and_blank_lines_of_spaces(shared_data, tmp_path):
    folder = shared_data / "wikitext2_valid_test"
    one = TextSource(cfg_for(tmp_path, [folder / "valid.txt"]), seed=0)
    both = TextSource(cfg_for(tmp_path, [folder / "valid.txt", folder / "test.txt"]), seed=0)
    # WikiText's blank lines hold one space: each section (heading or paragraphs) is a document.
    assert one.meta["documents"]["loaded"] == 1161
    assert both.meta["documents"]["loaded"] == 1161 + 1321
    assert one.fingerprint != both.fingerprint
    # Decoding gives back exactly the sections, whichever side of the split they fell on.
    sections = [d for d in re.split(r"\n(?:[ \t]*\n)+", (folder / "valid.txt").read_text()) if d.strip()]
    got = docs_of(token_file(one, "train.bin"), one) + docs_of(token_file(one, "val.bin"), one)
    assert sorted(got) == sorted(sections) and len(sections) == 1160


# --- the cache ---------------------------------------------------------------------------------


def test_second_build_reuses_the_cache(tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in numbered_docs(40)])
    cfg = cfg_for(tmp_path / "cache", [data], val_sequences=1)
    first = TextSource(cfg, seed=0)
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.cache_path.iterdir()}

    def fail(*a, **k):
        raise AssertionError("the cache was rebuilt")

    # A hit must neither load documents nor train a tokenizer.
    monkeypatch.setattr(text, "train_tokenizer", fail)
    monkeypatch.setattr(text, "build", fail)
    monkeypatch.setattr(datasets, "load_dataset", fail)
    second = TextSource(cfg, seed=0)
    assert second.cache_path == first.cache_path and second.fingerprint == first.fingerprint
    assert {p.name: p.stat().st_mtime_ns for p in second.cache_path.iterdir()} == mtimes
    assert sorted(mtimes) == ["meta.json", "tokenizer.json", "train.bin", "val.bin"]
    # Window choices (seq_len, val_sequences, unique_tokens) read the same cache.
    third = TextSource(cfg_for(tmp_path / "cache", [data], seq_len=8, val_sequences=3,
                               unique_tokens=100), seed=0)
    assert third.cache_path == first.cache_path


def test_fingerprint_follows_content_and_token_settings(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in numbered_docs(20)])
    fp = lambda **kw: text.fingerprint_of(text.corpus_identity(cfg_for(tmp_path, [data], **kw))[0],
                                          cfg_for(tmp_path, [data], **kw))
    base = fp()
    assert fp(vocab_size=1024) != base
    assert fp(val_fraction=0.2) != base
    assert fp(seed=7) != base
    assert fp(max_documents=10) != base
    assert fp(text_field="body") != base
    assert fp(seq_len=128, val_sequences=1, unique_tokens=500) == base
    moved = tmp_path / "elsewhere.jsonl"  # content, not the file's name or place
    shutil.copy(data, moved)
    assert text.fingerprint_of(text.corpus_identity(cfg_for(tmp_path, [moved]))[0],
                               cfg_for(tmp_path, [moved])) == base
    data.write_text(data.read_text().replace("Document 3:", "Document 3;"))
    assert fp() != base


def test_killed_build_leftovers_are_removed_and_racing_builds_build_once(tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in numbered_docs(40)])
    cfg = cfg_for(tmp_path / "cache", [data], val_sequences=1)
    fp = text.fingerprint_of(text.corpus_identity(cfg)[0], cfg)
    stale = tmp_path / "cache" / f".tmp-{fp}-deadbeef"
    stale.mkdir(parents=True)
    (stale / "train.bin").write_bytes(b"\x01\x00")  # half a build, no meta.json
    builds = []
    real_build = text.build

    def counted(*a, **k):
        builds.append(threading.get_ident())
        return real_build(*a, **k)

    monkeypatch.setattr(text, "build", counted)
    out = [None] * 4

    def run(i):
        out[i] = TextSource(cfg, seed=i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert all(s is not None and s.fingerprint == fp for s in out)
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [fp, f"{fp}.lock"]


# --- the split and the stream ------------------------------------------------------------------


def test_train_and_validation_are_disjoint_whole_documents(tmp_path):
    # The end-of-document marker written inside a document is only text: it ends nothing.
    docs = numbered_docs(59) + ["a document that quotes <|endoftext|> in the middle"]
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in docs])
    src = TextSource(cfg_for(tmp_path, [data], val_sequences=1), seed=0)
    train, val = docs_of(token_file(src, "train.bin"), src), docs_of(token_file(src, "val.bin"), src)
    assert len(val) == 6 and len(train) == 54
    assert set(train).isdisjoint(val) and sorted(train + val) == sorted(docs)
    assert train == [d for d in docs if d in set(train)]  # corpus order kept
    # The split depends on data.seed only.
    other = TextSource(cfg_for(tmp_path, [data], val_sequences=1, seed=99), seed=0)
    assert set(docs_of(token_file(other, "val.bin"), other)) != set(val)


def test_unique_tokens_repeats_the_first_windows_epoch_by_epoch(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in numbered_docs(200)])
    cfg = cfg_for(tmp_path, [data], val_sequences=1, unique_tokens=10 * (SEQ + 1) + 5)
    src = TextSource(cfg, seed=3)
    assert src.n_train_windows == 10 and src.unique_tokens == src.epoch_tokens == 10 * SEQ
    train = torch.from_numpy(token_file(src, "train.bin")[:10 * (SEQ + 1)].astype(np.int64))
    windows = {tuple(w.tolist()) for w in train.view(10, SEQ + 1)}
    for epoch in range(3):  # batches of 5: each pair of steps is one whole epoch
        seen = torch.cat([src.train_batch(2 * epoch, 5), src.train_batch(2 * epoch + 1, 5)])
        assert {tuple(w.tolist()) for w in seen} == windows
    assert src.epochs(3 * 10 * SEQ) == 3.0
    # Without unique_tokens the stream uses all of train.bin and reports no repetition size.
    full = TextSource(cfg_for(tmp_path, [data], val_sequences=1), seed=3)
    assert full.unique_tokens is None
    assert full.n_train_windows == full.train_tokens // (SEQ + 1) > 10


def test_parquet_and_mixed_file_kinds(tmp_path):
    docs = numbered_docs(30)
    pq = tmp_path / "d.parquet"
    datasets.Dataset.from_dict({"body": docs[:20], "n": list(range(20))}).to_parquet(str(pq))
    src = TextSource(cfg_for(tmp_path / "c1", [pq], text_field="body", val_sequences=1), seed=0)
    assert src.meta["documents"]["loaded"] == 20
    assert sorted(docs_of(token_file(src, "train.bin"), src)
                  + docs_of(token_file(src, "val.bin"), src)) == sorted(docs[:20])
    # A .txt next to the parquet: its paragraphs follow the parquet rows, in the order given.
    txt = tmp_path / "more.txt"
    txt.write_text("\n\n".join(docs[20:]) + "\n")
    mixed = TextSource(cfg_for(tmp_path / "c2", [pq, txt], text_field="body", val_sequences=1,
                               max_documents=25), seed=0)
    assert mixed.meta["documents"]["loaded"] == 25
    got = docs_of(token_file(mixed, "train.bin"), mixed) + docs_of(token_file(mixed, "val.bin"), mixed)
    assert sorted(got) == sorted(docs[:25])


def test_text_sample_by_document_and_line(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\n\nthree\n")
    b.write_text("four\n")
    whole = TextSource(cfg_for(tmp_path, [a, b], text_sample_by="document", vocab_size=300,
                               seq_len=2, val_sequences=1, val_fraction=0.5), seed=0)
    assert whole.meta["documents"] == {"loaded": 2, "empty_dropped": 0, "train": 1, "val": 1}
    lines = TextSource(cfg_for(tmp_path, [a, b], text_sample_by="line", vocab_size=300,
                               seq_len=2, val_sequences=1, val_fraction=0.5), seed=0)
    # Lines: one, two, "", three, "" (a's final newline), four, "": the empty ones are dropped.
    assert lines.meta["documents"]["loaded"] == 7 and lines.meta["documents"]["empty_dropped"] == 3


# --- the hub code path, offline ----------------------------------------------------------------


def test_hub_arguments_pass_through_and_use_the_datasets_fingerprint(tmp_path, monkeypatch):
    docs = numbered_docs(30)
    local = write_jsonl(tmp_path / "hub.jsonl", [{"id": i, "content": d} for i, d in enumerate(docs)])
    real = datasets.load_dataset
    calls = []

    def fake_hub(path, **kw):
        calls.append((path, kw))
        return real("json", data_files=str(local), split=kw["split"], streaming=kw["streaming"])

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    cfg = TextDataConfig(hub_path="someone/corpus", hub_name="sample-1", split="train", revision="v2",
                         text_field="content", max_documents=25, cache_dir=str(tmp_path / "c"),
                         seq_len=SEQ, val_sequences=1, vocab_size=400, val_fraction=0.2)
    src = TextSource(cfg, seed=0)
    assert calls[0] == ("someone/corpus", {"name": "sample-1", "data_files": None, "split": "train",
                                            "streaming": False, "revision": "v2"})
    assert src.meta["documents"] == {"loaded": 25, "empty_dropped": 0, "train": 20, "val": 5}
    ident = src.meta["corpus"]
    assert ident["hub"] == ["someone/corpus", "sample-1", "train", "v2"]
    assert ident["datasets_fingerprint"] == real("json", data_files=str(local), split="train")._fingerprint
    got = docs_of(token_file(src, "train.bin"), src) + docs_of(token_file(src, "val.bin"), src)
    assert sorted(got) == sorted(docs[:25])

    # Streaming: only the first max_documents rows are read; the identity is the hub's name.
    stream_cfg = TextDataConfig(**{**cfg.__dict__, "streaming": True, "cache_dir": str(tmp_path / "s")})
    streamed = TextSource(stream_cfg, seed=0)
    assert calls[-1][1]["streaming"] is True
    assert "datasets_fingerprint" not in streamed.meta["corpus"]
    assert streamed.meta["documents"] == src.meta["documents"]
    assert np.array_equal(token_file(streamed, "train.bin"), token_file(src, "train.bin"))
    # A stream's cache is found by name alone: offline, a built stream is never reopened.
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("reopened the stream"))
    assert TextSource(stream_cfg, seed=0).fingerprint == streamed.fingerprint


def test_open_dataset_is_the_one_loader_for_hub_names_and_builders(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}, {"text": "b"}])
    ds = text.open_dataset("json", data_files=[str(data)], split="train")
    assert ds["text"][:] == ["a", "b"]
    with pytest.raises(DataError, match=r"cannot load 'no-such-user/no-such-set'.*split='train'"):
        text.open_dataset("no-such-user/no-such-set", split="train")


# --- errors ------------------------------------------------------------------------------------


def one_line_error(cfg: TextDataConfig, pattern: str) -> str:
    with pytest.raises(DataError, match=pattern) as e:
        TextSource(cfg, seed=0)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_inputs_give_one_line_data_errors(tmp_path):
    good = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in numbered_docs(20)])
    one_line_error(cfg_for(tmp_path, [tmp_path / "missing.jsonl"]), r"data.paths: no such file: .*missing.jsonl")
    csv = tmp_path / "d.csv"
    csv.write_text("text\nhello\n")
    one_line_error(cfg_for(tmp_path, [csv]), r"data.paths: .*d.csv: unknown extension '.csv'")
    one_line_error(cfg_for(tmp_path, [good], text_field="body"),
                   r"data.text_field: no column 'body' in .*d.jsonl; it has text")
    empty = write_jsonl(tmp_path / "e.jsonl", [{"text": ""}, {"text": "  \n"}])
    one_line_error(cfg_for(tmp_path, [empty]), r"no documents with text in .*e.jsonl \(2 loaded, all empty\)")
    single = write_jsonl(tmp_path / "s.jsonl", [{"text": "only one"}])
    one_line_error(cfg_for(tmp_path, [single]), r"need at least 2 documents .* got 1")
    one_line_error(cfg_for(tmp_path, [good], val_sequences=1000),
                   r"validation split has [\d,]+ tokens \(2 documents\) but data.val_sequences=1000")
    one_line_error(cfg_for(tmp_path, [good], val_sequences=1, unique_tokens=10**9),
                   r"data.unique_tokens: 1,000,000,000 is more than the [\d,]+ training tokens")
    one_line_error(cfg_for(tmp_path, [good], text_sample_by="sentence"), r"data.text_sample_by: 'sentence'")
    one_line_error(TextDataConfig(cache_dir=str(tmp_path)), r"data.paths: give local files")
    assert issubclass(DataError, ValueError)
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())  # failed builds clean up


def test_relative_paths_resolve_against_the_start_folder(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in numbered_docs(20)])
    monkeypatch.chdir(tmp_path)
    src = TextSource(cfg_for(Path("cache"), ["d.jsonl"], val_sequences=1), seed=0)
    assert src.cache_path.parent == tmp_path / "cache"
    assert src.tokenizer_path == src.cache_path / "tokenizer.json" and src.tokenizer_path.is_file()
    assert os.path.isabs(src.cache_path)
    # A glob is expanded (sorted) and hashed file by file: the same content, the same cache.
    assert TextSource(cfg_for(Path("cache"), ["*.jsonl"], val_sequences=1), seed=0).fingerprint \
        == src.fingerprint
    with pytest.raises(DataError, match=r"data.paths: no files match .*nothing\*.jsonl"):
        TextSource(cfg_for(Path("cache"), ["nothing*.jsonl"]), seed=0)
