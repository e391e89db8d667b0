#!/usr/bin/env python
"""Training-step throughput of the harness's step against a bare nanoGPT-style loop.

Three loops per shape, in the same process, from the same seed, on the same batches, after
warmup, interleaved round by round (the order rotates) so that a noisy machine slows all alike:

* ``harness``: what a run does per step, harness.run.step.TrainStep (transformers GPT-2, fp32 loss,
  backward, gradient clipping at 1.0, AdamW, the cosine schedule; bf16 autocast and the compile
  choices on CUDA), with the loss kept on the device and read every harness.run.losses.CHECK_EVERY steps, as
  train.py's loop reads it;
* ``plain``: a bare nanoGPT-style loop on scripts/plain_gpt.py's model of the same shape: forward,
  loss, backward, AdamW, nothing else (no clipping, no schedule, no loss read);
* ``harness_model``: the harness's model in that bare loop, which separates the model's cost from
  the step's.

Prints tokens/s, achieved GFLOP/s and MFU (the Chinchilla count of harness.flops over the device's
dense peak; none on CPU) side by side and writes ``results/bench/train_bench_<device-kind>.json``
and ``.md``.

    python scripts/bench_train.py                     # CPU: fp32; about 3-4 minutes on 2 cores
    python scripts/bench_train.py --device cuda --compile   # GPU: bf16 autocast, torch.compile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plain_gpt import PlainGPT, plain_loss, plain_param_groups  # noqa: E402

from harness.config import OptimConfig, ScheduleConfig, TrainConfig  # noqa: E402
from harness.flops import Shape, flops_per_token, param_counts  # noqa: E402
from harness.hardware import device_name, resolve_device  # noqa: E402
from harness.machine import cpu_cores, cpu_model, peak_flops  # noqa: E402
from harness.model import forward_loss, param_groups  # noqa: E402
from harness.run.losses import CHECK_EVERY  # noqa: E402
from harness.run.step import TrainStep, autocast  # noqa: E402


@dataclass
class Row:
    d_model: int
    n_layer: int
    n_head: int
    seq_len: int
    batch: int
    params: int
    steps_timed: int
    harness_tokens_per_s: float
    plain_tokens_per_s: float
    harness_over_plain: float
    harness_model_tokens_per_s: float  # the harness's model in the bare loop
    harness_model_over_plain: float
    harness_gflops_per_s: float
    plain_gflops_per_s: float
    harness_mfu: float | None
    plain_mfu: float | None
    harness_step_ms: list[float]
    plain_step_ms: list[float]
    harness_model_step_ms: list[float]


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def parse_shape(text: str) -> tuple[int, int, int]:
    d, L, s = (int(x) for x in text.lower().split("x"))
    return d, L, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["64x2x64", "128x4x128", "256x6x128"],
                    help="d_model x n_layer x seq_len, e.g. 128x4x128 (heads: d/64, at least 2)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=256, help="the synthetic language's default vocabulary")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile both models (CUDA only)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per model per shape")
    ap.add_argument("--seconds-per-shape", type=float, default=40.0, help="timed budget per shape, both models")
    ap.add_argument("--out", default="results/bench")
    args = ap.parse_args(argv)
    command = shlex.join(["python", "scripts/bench_train.py", *(sys.argv[1:] if argv is None else argv)])

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    compile_ = args.compile and cuda
    precision = "bf16" if cuda else "fp32"
    name = device_name(device)
    peak = peak_flops(name, precision)
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)
    hw = {"device": name, "device_type": device.type, "cpu_model": cpu_model(), "cpu_cores": cpu_cores(),
          "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
          "transformers": __import__("transformers").__version__, "python": platform.python_version(),
          "precision": precision, "compile": compile_, "peak_flops": peak,
          # Other processes on a shared box slow both models alike (the rounds interleave) but
          # make absolute numbers meaningless; the load average says how shared it was.
          "load_average_start": _loadavg()}
    print(f"# {name} | torch {torch.__version__} | threads {torch.get_num_threads()} | {precision}"
          f"{' | compile' if compile_ else ''} | peak {peak / 1e12 if peak else None} TFLOP/s")

    rows: list[Row] = []
    for text in args.shapes:
        d, L, s = parse_shape(text)
        shape = Shape("gpt2", n_layer=L, d_model=d, n_head=max(2, d // 64), d_ff=4 * d, n_ctx=s, seq_len=s,
                      vocab_size=args.vocab, tied=True)
        # The run's settings, as a config gives them: clipping at 1.0, the cosine schedule with
        # warmup, AdamW (fused on CUDA), precision "auto", compile as asked.
        optim = OptimConfig(lr=1e-3, beta1=0.9, beta2=0.95, weight_decay=0.1, grad_clip=1.0)
        torch.manual_seed(0)
        harness = TrainStep.for_shape(shape, device, optim, ScheduleConfig(), TrainConfig(compile=compile_),
                                      steps=100_000, warmup_steps=100)
        torch.manual_seed(0)
        bare_model = TrainStep.for_shape(shape, device).model  # the same model, for the bare loop
        torch.manual_seed(0)
        plain = PlainGPT(shape).to(device)
        n = param_counts(shape).total
        assert sum(p.numel() for p in plain.parameters()) == n == sum(p.numel() for p in harness.model.parameters())
        # The bare loop as nanoGPT writes it: fused AdamW on CUDA, torch's default on the CPU.
        opt_kw = {"lr": 1e-3, "betas": (0.9, 0.95), "fused": True} if cuda else {"lr": 1e-3, "betas": (0.9, 0.95)}
        bare = {
            "plain": (torch.compile(plain) if compile_ else plain, plain_loss,
                      torch.optim.AdamW(plain_param_groups(plain, 0.1), **opt_kw)),
            "harness_model": (torch.compile(bare_model) if compile_ else bare_model, forward_loss,
                              torch.optim.AdamW(param_groups(bare_model, 0.1), **opt_kw)),
        }
        gen = torch.Generator().manual_seed(0)
        batches = [torch.randint(0, args.vocab, (args.batch, s + 1), generator=gen).to(device) for _ in range(4)]
        pending: list[torch.Tensor] = []

        def step(key: str, i: int) -> None:
            batch = batches[i % len(batches)]
            if key == "harness":
                pending.append(harness(batch))
                if len(pending) == CHECK_EVERY:  # train.py's loss read: one host sync per window
                    torch.stack(pending).tolist()
                    pending.clear()
                return
            model, loss_fn, opt = bare[key]
            with autocast(device, "auto"):
                loss = loss_fn(model, batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        keys = ("harness", "plain", "harness_model")
        t0 = time.perf_counter()
        for key in keys:
            for i in range(args.warmup):
                step(key, i)
        sync()
        per_step = (time.perf_counter() - t0) / (len(keys) * args.warmup)
        # Rounds of a few steps each: enough rounds for a median, within the time budget.
        k = max(1, int(0.5 / max(per_step, 1e-6)))  # about half a second per model per round
        rounds = int(min(30, max(3, args.seconds_per_shape / (len(keys) * k * per_step))))
        times: dict[str, list[float]] = {key: [] for key in keys}
        for r in range(rounds):
            for key in keys[r % len(keys):] + keys[:r % len(keys)]:
                sync()
                t = time.perf_counter()
                for i in range(k):
                    step(key, i)
                sync()
                times[key].append((time.perf_counter() - t) / k)
        tokens = args.batch * s
        fpt = flops_per_token(shape)["chinchilla"]
        med = {key: statistics.median(v) for key, v in times.items()}
        tps = {key: tokens / med[key] for key in med}
        row = Row(d_model=d, n_layer=L, n_head=shape.n_head, seq_len=s, batch=args.batch, params=n,
                  steps_timed=rounds * k,
                  harness_tokens_per_s=round(tps["harness"], 1), plain_tokens_per_s=round(tps["plain"], 1),
                  harness_over_plain=round(tps["harness"] / tps["plain"], 3),
                  harness_model_tokens_per_s=round(tps["harness_model"], 1),
                  harness_model_over_plain=round(tps["harness_model"] / tps["plain"], 3),
                  harness_gflops_per_s=round(tps["harness"] * fpt / 1e9, 2),
                  plain_gflops_per_s=round(tps["plain"] * fpt / 1e9, 2),
                  harness_mfu=round(tps["harness"] * fpt / peak, 4) if peak else None,
                  plain_mfu=round(tps["plain"] * fpt / peak, 4) if peak else None,
                  harness_step_ms=[round(1e3 * x, 2) for x in times["harness"]],
                  plain_step_ms=[round(1e3 * x, 2) for x in times["plain"]],
                  harness_model_step_ms=[round(1e3 * x, 2) for x in times["harness_model"]])
        rows.append(row)
        mfu = (f" | MFU {row.harness_mfu:.1%} vs {row.plain_mfu:.1%}" if peak else "")
        print(f"d={d:4d} L={L} S={s:4d} B={args.batch} N={n:>10,} | tokens/s harness {row.harness_tokens_per_s:>10,.0f}"
              f" plain {row.plain_tokens_per_s:>10,.0f} (x{row.harness_over_plain:.3f}; model alone"
              f" x{row.harness_model_over_plain:.3f}) | GFLOP/s "
              f"{row.harness_gflops_per_s:.1f} vs {row.plain_gflops_per_s:.1f}{mfu} | {rounds}x{k} steps", flush=True)
        del bare, harness, bare_model, plain

    hw["load_average_end"] = _loadavg()
    kind = name.split(" (")[0] if device.type == "cpu" else name
    kind = "cpu-" + kind if device.type == "cpu" else kind
    slug = "".join(c if c.isalnum() else "-" for c in kind.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"hardware": hw, "command": command, "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "flop_convention": "chinchilla", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "rows": [asdict(r) for r in rows]}
    (out / f"train_bench_{slug}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# Training-step throughput: {name}", "",
             f"`{command}`, {result['when']}. harness: harness.run.step.TrainStep as a run takes it (clipping, "
             "cosine schedule, loss read every losses.CHECK_EVERY steps); plain: a bare nanoGPT-style loop "
             "(scripts/plain_gpt.py: forward, loss, backward, AdamW); harness model: the harness's "
             "model in that bare loop. Medians over interleaved rounds.", "",
             f"torch {torch.__version__}, transformers {hw['transformers']}, {hw['torch_threads']} threads, "
             f"{precision}{', torch.compile' if compile_ else ''}; batch {args.batch}, vocab {args.vocab}; "
             "FLOPs: Chinchilla count (harness.flops). "
             f"Load average at start/end: {hw['load_average_start']} / {hw['load_average_end']} "
             f"on {hw['cpu_cores']} cores.", "",
             "| d | L | S | params | harness tok/s | plain tok/s | harness/plain | harness model/plain | harness GFLOP/s | plain GFLOP/s | MFU harness | MFU plain |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = (lambda x: f"{x:.1%}" if x is not None else "-")
        lines.append(f"| {r.d_model} | {r.n_layer} | {r.seq_len} | {r.params:,} | {r.harness_tokens_per_s:,.0f} | "
                     f"{r.plain_tokens_per_s:,.0f} | {r.harness_over_plain:.3f} | {r.harness_model_over_plain:.3f} | "
                     f"{r.harness_gflops_per_s:.1f} | "
                     f"{r.plain_gflops_per_s:.1f} | {fmt(r.harness_mfu)} | {fmt(r.plain_mfu)} |")
    (out / f"train_bench_{slug}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / f'train_bench_{slug}.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
