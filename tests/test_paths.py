"""harness.paths: where a configured path points, and how a record names it."""

import os

from harness import paths


def test_a_path_in_the_shared_data_folder_is_recorded_by_the_folder_s_name(tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "data"
    (shared / "corpus").mkdir(parents=True)
    monkeypatch.setenv(paths.SHARED_DATA_VAR, str(shared))
    assert paths.portable_path(str(shared / "corpus" / "a.jsonl.gz")) == "$HARNESS_SHARED_DATA/corpus/a.jsonl.gz"
    # the same file named relative to the starting folder, through "..", is the same file
    monkeypatch.chdir(tmp_path / "shared")
    assert paths.portable_path("../shared/data/corpus/a.jsonl.gz") == "$HARNESS_SHARED_DATA/corpus/a.jsonl.gz"
    assert paths.portable_path("$HARNESS_SHARED_DATA/corpus/a.jsonl.gz") == "$HARNESS_SHARED_DATA/corpus/a.jsonl.gz"


def test_without_the_variable_the_shared_folder_is_beside_the_starting_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.SHARED_DATA_VAR, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    assert paths.shared_data_root() == project / ".." / "shared" / "data"
    assert paths.portable_path("../shared/data/eltec_eng/eltec_eng.jsonl.gz") == \
        "$HARNESS_SHARED_DATA/eltec_eng/eltec_eng.jsonl.gz"
    assert paths.resolve_path("$HARNESS_SHARED_DATA/eltec_eng/eltec_eng.jsonl.gz").resolve() == \
        tmp_path / "shared" / "data" / "eltec_eng" / "eltec_eng.jsonl.gz"


def test_a_recorded_path_resolves_to_the_file_it_was_written_from(tmp_path, monkeypatch):
    shared = tmp_path / "elsewhere"
    shared.mkdir()
    (shared / "c.txt").write_text("x")
    monkeypatch.setenv(paths.SHARED_DATA_VAR, str(shared))
    recorded = paths.portable_path(str(shared / "c.txt"))
    assert paths.resolve_path(recorded) == shared / "c.txt"
    assert paths.resolve_path(recorded).read_text() == "x"


def test_home_is_written_as_a_tilde_and_other_paths_as_given(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.SHARED_DATA_VAR, str(tmp_path / "shared"))
    home = os.path.expanduser("~")
    assert paths.portable_path(os.path.join(home, "corpora", "a.txt")) == "~/corpora/a.txt"
    assert paths.resolve_path("~/corpora/a.txt") == paths.Path(home) / "corpora" / "a.txt"
    assert paths.portable_path(str(tmp_path / "a.txt")) == str(tmp_path / "a.txt")
    assert paths.portable_path("corpus/*.txt") == "corpus/*.txt"
    # a folder whose name only begins like the shared one is not inside it
    assert paths.portable_path(str(tmp_path / "shared2" / "a.txt")) == str(tmp_path / "shared2" / "a.txt")
