#!/usr/bin/env bash
# gpu_check.sh: one command that proves the harness on a CUDA machine (issue 13).
#
#   scripts/gpu_check.sh                  # on a CUDA box: writes results/gpu_<device>/
#   scripts/gpu_check.sh --cpu --out DIR  # the same steps at small sizes on the CPU (~2-3 min on 2 cores)
#
# Steps, each writing under the output folder:
#   1. hardware/   nvidia-smi, torch, CUDA and cuDNN versions, the device's name and dense peak
#   2. bench/      scripts/bench_train.py: the harness's step against the plain nanoGPT-layout model,
#                  bf16 autocast + torch.compile, at GPT-2 124M and three sub-10M shapes
#   3. packing/    the same tiny run launched PACK_RUNS times at once with sweep.runs_per_gpu = k for
#                  k = 1, 2, 4, 8: aggregate tokens/s and MFU from the records, against k = 1
#   4. sweep/      harness-plan (its packed estimate at the slowdown step 3 measured), then a small
#                  chinchilla_isoflop_gpu sweep (three budgets) with its fit
#   5. summary.json and summary.md: every number above, and the goals checked
#
# --cpu runs the same steps at small sizes so that the script cannot rot (tests/scripts/test_gpu_check.py
# runs it): fp32, no compile (bench_train.py compiles on CUDA only), k = 1, 2 on the CPU's cores,
# and in step 4 a plain 3x3 IsoFLOP grid of one-layer models, since the *_gpu design's smallest
# ladder shape (9K parameters) needs budgets a CPU cannot finish in minutes. Its output belongs
# in a temporary or outputs/ folder, never in results/.
#
# Sizes can be changed by environment variables (defaults in brackets, GPU / CPU):
#   PACK_RUNS [8 per GPU / 4]  PACK_TOKENS [20000000 / 40960]  PACK_KS ["1 2 4 8" / "1 2"]
#   PACK_EXTRA [""]: more overrides for the packed runs, e.g. "train.compile=true"
#   BENCH_SECONDS [40 / 2]: timed seconds per benchmark shape
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# This checkout's harness, whatever an installed copy says (the sweeps' joblib workers inherit it).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python}"
PACK_EXTRA="${PACK_EXTRA:-}"

CPU=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) CPU=1 ;;
    --out) OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# --out is relative to where the command was given; everything after runs from the repository root.
if [ -n "$OUT" ]; then
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
fi
cd "$ROOT"

train() { "$PY" -c "from harness.cli.train import main; main()" "$@"; }
now() { "$PY" -c "import time; print(f'{time.time():.3f}')"; }

if [ "$CPU" = 1 ]; then
  DEVICE=cpu
  NGPU=1  # the packing and planning steps treat the CPU as one device
  OUT="${OUT:-outputs/gpu_check_cpu}"
  PACK_RUNS="${PACK_RUNS:-4}"
  PACK_TOKENS="${PACK_TOKENS:-40960}"
  PACK_KS="${PACK_KS:-1 2}"
  BENCH_SECONDS="${BENCH_SECONDS:-2}"
  PACK_SHAPE=(data.seq_len=32 data.val_sequences=32 model.n_layer=1 model.d_model=32 model.n_head=2
              train.batch_size=8 train.threads=1)
else
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: torch sees no CUDA device; run with --cpu to check the script on the CPU" >&2
    exit 1
  fi
  DEVICE=cuda
  NGPU="$("$PY" -c "import torch; print(torch.cuda.device_count())")"
  if [ -z "$OUT" ]; then
    SLUG="$("$PY" -c "import re, torch; print(re.sub('[^a-z0-9]+', '-', torch.cuda.get_device_name(0).lower()).strip('-'))")"
    OUT="results/gpu_$SLUG"
  fi
  PACK_RUNS="${PACK_RUNS:-$((8 * NGPU))}"
  PACK_TOKENS="${PACK_TOKENS:-20000000}"
  PACK_KS="${PACK_KS:-1 2 4 8}"
  BENCH_SECONDS="${BENCH_SECONDS:-40}"
  # A 0.4M-parameter model: the kind of run most sweeps train, too small to fill a GPU alone.
  PACK_SHAPE=(data.seq_len=256 model.n_layer=2 model.d_model=128 model.n_head=2 train.batch_size=32)
fi
mkdir -p "$OUT"/{hardware,bench,packing,sweep}
echo "gpu_check: device $DEVICE ($NGPU), writing to $OUT"
T0="$(now)"

# 1. hardware --------------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi > "$OUT/hardware/nvidia-smi.txt" 2>&1 || true
  nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm --format=csv \
    > "$OUT/hardware/nvidia-smi-query.csv" 2>&1 || true
fi
"$PY" - "$OUT/hardware/hardware.json" "$DEVICE" <<'EOF'
import json, platform, sys
import torch
from harness.hardware import device_name
from harness.machine import cpu_cores, cpu_model, peak_flops
out, dev = sys.argv[1], sys.argv[2]
names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if dev == "cuda" else [device_name("cpu")]
info = {"device": dev, "devices": names, "peak_flops_bf16": peak_flops(names[0], "bf16"),
        "peak_flops_fp32": peak_flops(names[0], "fp32"), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if dev == "cuda" else None,
        "cpu_model": cpu_model(), "cpu_cores": cpu_cores(), "python": platform.python_version(),
        "platform": platform.platform()}
json.dump(info, open(out, "w"), indent=1)
print("hardware:", ", ".join(names), "| torch", info["torch"], "| CUDA", info["cuda"])
EOF

# 2. benchmark: harness vs plain nanoGPT-layout model -------------------------------------------------
if [ "$CPU" = 1 ]; then
  "$PY" scripts/bench_train.py --device cpu --threads 2 --shapes 32x1x32 64x2x64 --batch 8 --warmup 1 \
    --seconds-per-shape "$BENCH_SECONDS" --out "$OUT/bench/small"
else
  # GPT-2 124M: d 768, 12 layers, 1024 tokens, GPT-2's vocabulary padded to a multiple of 64.
  "$PY" scripts/bench_train.py --device cuda --compile --shapes 768x12x1024 --vocab 50304 --batch 16 \
    --seconds-per-shape "$BENCH_SECONDS" --out "$OUT/bench/gpt2_124m"
  # Sub-10M shapes (0.4M, 3.1M, 6.1M parameters) on the synthetic language's 256-token vocabulary.
  "$PY" scripts/bench_train.py --device cuda --compile --shapes 128x2x256 256x4x256 320x5x256 --batch 64 \
    --seconds-per-shape "$BENCH_SECONDS" --out "$OUT/bench/small"
fi

# 3. packing: PACK_RUNS copies of a tiny run, k at a time per device -------------------------------------
SEEDS="$(seq -s, 0 $((PACK_RUNS - 1)))"
for k in $PACK_KS; do
  t="$(now)"
  # shellcheck disable=SC2086  # PACK_EXTRA is a list of overrides
  train -m "${PACK_SHAPE[@]}" "seed=$SEEDS" "train.tokens=$PACK_TOKENS" device=auto \
    "out_dir=$OUT/packing" "sweep_name=k$k" "sweep.runs_per_gpu=$k" sweep.fit=false logging.quiet=true \
    sweep.record_wait_seconds=0 hydra/launcher=joblib "hydra.launcher.n_jobs=$((NGPU * k))" $PACK_EXTRA \
    > "$OUT/packing/k$k.log" 2>&1
  echo "$t $(now)" > "$OUT/packing/k$k.wall"
  echo "packing: $PACK_RUNS runs at $k per device done"
done
"$PY" - "$OUT/packing" "$NGPU" "$PACK_KS" <<'EOF'
import json, statistics, sys
from pathlib import Path
from harness import records
from harness.machine import mfu
folder, n_dev, ks = Path(sys.argv[1]), int(sys.argv[2]), [int(k) for k in sys.argv[3].split()]
rows = []
for k in ks:
    recs = records.read_sweep(folder / f"k{k}", status=None)
    done = [r for r in recs if r.status == "completed"]
    t0, t1 = (float(x) for x in (folder / f"k{k}.wall").read_text().split())
    tokens = sum(r.tokens for r in done)
    per_run = statistics.mean(r.tokens_per_second for r in done) if done else None
    peak = done[0].peak_flops if done else None
    fpt = done[0].extra["flops_per_token"]["chinchilla"] if done else None
    # Two aggregates: the whole launch's (start-up and evaluation included: what a sweep gets) and
    # the training steps' (k runs per device each at its recorded rate while they overlap).
    wall_rate = tokens / (t1 - t0)
    step_rate = n_dev * k * per_run if per_run else None
    rows.append({"runs_per_gpu": k, "runs": len(recs), "completed": len(done), "wall_seconds": round(t1 - t0, 2),
                 "tokens": tokens, "aggregate_tokens_per_s_wall": round(wall_rate, 1),
                 "aggregate_tokens_per_s_steps": round(step_rate, 1) if step_rate else None,
                 "mean_run_tokens_per_s": round(per_run, 1) if per_run else None,
                 "mean_run_mfu": statistics.mean(r.mfu for r in done) if done and done[0].mfu is not None else None,
                 "aggregate_mfu_steps": mfu(step_rate, fpt, peak * n_dev) if (step_rate and peak) else None,
                 "device": done[0].device_name if done else None})
base = rows[0]
for r in rows:
    # slowdown: how much slower one run is when it shares its device (what plan.pack_slowdown assumes)
    r["speedup_wall"] = round(r["aggregate_tokens_per_s_wall"] / base["aggregate_tokens_per_s_wall"], 3)
    if r["mean_run_tokens_per_s"] and base["mean_run_tokens_per_s"]:
        r["speedup_steps"] = round(r["aggregate_tokens_per_s_steps"] / base["aggregate_tokens_per_s_steps"], 3)
        r["slowdown_per_run"] = round(base["mean_run_tokens_per_s"] / r["mean_run_tokens_per_s"], 3)
json.dump({"devices": n_dev, "rows": rows}, open(folder / "packing.json", "w"), indent=1)
for r in rows:
    print(f"packing k={r['runs_per_gpu']}: {r['completed']}/{r['runs']} runs, {r['wall_seconds']} s, "
          f"aggregate {r['aggregate_tokens_per_s_wall']:,.0f} tok/s (x{r['speedup_wall']} of k=1), "
          f"per-run slowdown x{r.get('slowdown_per_run')}")
EOF

# 4. a small sweep with its fit, planned first ----------------------------------------------------------
SLOW="$("$PY" -c "import json,sys; rows=json.load(open(sys.argv[1]))['rows']; r=[x for x in rows if x['runs_per_gpu']>1]; print(max(1.0, r[-1].get('slowdown_per_run') or 1.0) if r else 1.0)" "$OUT/packing/packing.json")"
SWEEP_K="$(echo "$PACK_KS" | awk '{print ($NF < 4 ? $NF : 4)}')"
if [ "$CPU" = 1 ]; then
  SWEEP=(data.seq_len=16 data.val_sequences=16 model.n_layer=1 model.n_head=2 train.batch_size=8
         train.threads=1 model.d_model=16,24,32 train.flops=2e8,6e8,2e9 sweep_name=isoflop_tiny
         sweep.fit_bootstrap=0)
else
  # The GPU preset's first three budgets (3e13, 1e14, 3e14): 13 runs, 335M tokens, 2.4e15 Chinchilla FLOPs.
  SWEEP=(sweep=chinchilla_isoflop_gpu 'sweep.design.budgets=[3e13,1e14,3e14]')
fi
"$PY" -m harness.cli.plan "${SWEEP[@]}" "out_dir=$OUT/sweep" "sweep.runs_per_gpu=$SWEEP_K" \
  "plan.gpus=$NGPU" "plan.pack_slowdown=$SLOW" > "$OUT/sweep/plan.txt" 2>&1
t="$(now)"
train -m "${SWEEP[@]}" "out_dir=$OUT/sweep" "sweep.runs_per_gpu=$SWEEP_K" logging.quiet=true device=auto \
  hydra/launcher=joblib "hydra.launcher.n_jobs=$((NGPU * SWEEP_K))" > "$OUT/sweep/sweep.log" 2>&1
echo "$t $(now)" > "$OUT/sweep/sweep.wall"
echo "sweep: done ($(tail -n 1 "$OUT/sweep/sweep.log"))"

# 5. summary ----------------------------------------------------------------------------------------------
"$PY" - "$OUT" "$DEVICE" "$T0" "$(now)" <<'EOF'
import glob, json, re, sys
from pathlib import Path
out, dev, t0, t1 = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
hw = json.loads((out / "hardware" / "hardware.json").read_text())
bench = [json.loads(Path(p).read_text()) for p in sorted(glob.glob(str(out / "bench" / "*" / "train_bench_*.json")))]
pack = json.loads((out / "packing" / "packing.json").read_text())
fits = sorted(glob.glob(str(out / "sweep" / "*" / "fit.json")))
fit = json.loads(Path(fits[0]).read_text()) if fits else None
plan = (out / "sweep" / "plan.txt").read_text()
packed_est = next((ln for ln in plan.splitlines() if ln.startswith("packed on")), None)
s0, s1 = (float(x) for x in (out / "sweep" / "sweep.wall").read_text().split())
rows = [r for b in bench for r in b["rows"]]
big = [r for r in rows if r["params"] > 50e6]
small = [r for r in rows if r["params"] < 10e6]
k_max = pack["rows"][-1]
goals = {
    # issue 13: at least 40% MFU at 124M (nanoGPT and nanochat reach it on A100/H100) ...
    "mfu_124m_at_least_0.40": (big[0]["harness_mfu"] >= 0.40) if big and big[0]["harness_mfu"] is not None else None,
    # ... and packed sub-10M runs at least 5x the aggregate tokens/s of one run per GPU.
    "packed_speedup_at_least_5": (k_max["speedup_wall"] >= 5.0) if dev == "cuda" else None,
}
summary = {"device": dev, "hardware": hw, "seconds": round(t1 - t0, 1), "bench": rows, "packing": pack,
           "sweep": {"wall_seconds": round(s1 - s0, 1), "plan_packed_estimate": packed_est,
                     "fit_file": str(Path(fits[0]).relative_to(out)) if fits else None,
                     "fit_points": fit.get("n_points") if fit else None},
           "goals": goals}
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
pct = lambda x: "-" if x is None else f"{x:.1%}"
md = [f"# gpu_check on {', '.join(hw['devices'])}", "",
      f"torch {hw['torch']}, CUDA {hw['cuda']}, cuDNN {hw['cudnn']}; {hw['cpu_model']} ({hw['cpu_cores']} cores); "
      f"{summary['seconds']:.0f} s in all.", "", "## Training step: harness vs plain nanoGPT-layout model", "",
      "| d | L | S | params | harness tok/s | plain tok/s | harness/plain | MFU harness | MFU plain |",
      "|---|---|---|---|---|---|---|---|---|"]
md += [f"| {r['d_model']} | {r['n_layer']} | {r['seq_len']} | {r['params']:,} | {r['harness_tokens_per_s']:,.0f} | "
       f"{r['plain_tokens_per_s']:,.0f} | {r['harness_over_plain']:.3f} | {pct(r['harness_mfu'])} | {pct(r['plain_mfu'])} |"
       for r in rows]
md += ["", f"## Packed tiny runs ({pack['devices']} device(s))", "",
       "| runs per GPU | runs | wall s | aggregate tok/s (wall) | x of 1 | per-run slowdown | aggregate MFU (steps) |",
       "|---|---|---|---|---|---|---|"]
md += [f"| {r['runs_per_gpu']} | {r['completed']}/{r['runs']} | {r['wall_seconds']} | {r['aggregate_tokens_per_s_wall']:,.0f} | "
       f"{r['speedup_wall']} | {r.get('slowdown_per_run', '-')} | {pct(r['aggregate_mfu_steps'])} |" for r in pack["rows"]]
md += ["", "## Sweep", "", f"Planned (harness-plan, at the slowdown measured above): {packed_est}", "",
       f"Measured: {summary['sweep']['wall_seconds']:.0f} s; fit of {summary['sweep']['fit_points']} runs: "
       f"{summary['sweep']['fit_file']}", "", "## Goals (issue 13)", ""]
md += [f"- {k}: {'n/a (no GPU)' if v is None else ('met' if v else 'NOT met')}" for k, v in goals.items()]
(out / "summary.md").write_text("\n".join(md) + "\n")
print(f"gpu_check: done in {summary['seconds']:.0f} s; {out / 'summary.md'}")
EOF
