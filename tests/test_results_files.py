"""The committed studies under results/ name no path outside the repository: no absolute folder of
the machine that ran them and no ``../shared`` (records name the shared data folder as
``$HARNESS_SHARED_DATA/...``, harness.paths), so a clone reads the same on every machine."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./shared|(?<![\w.~$])/(?:work|home|tmp|Users|root|mnt|scratch|private|var/folders)/")


def test_no_committed_result_names_a_path_outside_the_repository():
    files = [p for p in (ROOT / "results").rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".csv", ".txt", ".yaml")]
    assert len(files) > 100
    named = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in files
             for m in [OUTSIDE.search(p.read_text(errors="replace"))] if m]
    assert not named, "; ".join(named[:5]) + (f" (+{len(named) - 5} more)" if len(named) > 5 else "")


def test_the_check_sees_the_paths_it_is_for():
    assert OUTSIDE.search('"paths": ["../shared/data/eltec_eng/eltec_eng.jsonl.gz"]')
    assert OUTSIDE.search("out_dir=/work/studies/out-s3") and OUTSIDE.search('"/home/me/x.txt"')
    assert not OUTSIDE.search('"$HARNESS_SHARED_DATA/eltec_eng/eltec_eng.jsonl.gz"')
    assert not OUTSIDE.search("[cost curve](../cost_curve/README.md) ~/.cache/harness")
