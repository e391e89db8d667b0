"""What a machine is and can do, without torch: its CPU, and the peak FLOP/s of known GPUs for MFU.

The peak table holds dense (no 2:4 sparsity) tensor-core figures from NVIDIA's datasheets and
architecture whitepapers. MFU is reported against them only where the device is recognised; on a
CPU there is no trustworthy peak (it depends on the SIMD units, clocks under load and the threads
torch uses), so there is no MFU on CPU: the benchmark reports achieved GFLOP/s instead. The planner
reads these without loading torch.
"""

from __future__ import annotations

import os
import platform
import re

# precision -> TFLOP/s, dense. "bf16" is bf16 tensor cores with fp32 accumulation (what autocast
# runs); "tf32" is fp32 matmuls on tensor cores (torch's allow_tf32); "fp32" is plain fp32 on
# CUDA cores, torch's default for fp32 matmuls.
PEAKS: list[tuple[str, str, dict[str, float | None]]] = [
    # Rows are tried in order, so the more specific names come first.
    # H200 datasheet (SXM; NVL): BF16 1,979 / 1,671 and TF32 989 / 835 TFLOPS "with sparsity"; halved here.
    (r"h200 nvl", "NVIDIA H200 NVL", {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"h200", "NVIDIA H200 SXM", {"bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    # H100 datasheet (SXM; PCIe; NVL): BF16 1,979 / 1,513 / 1,671, TF32 989 / 756 / 835 with sparsity.
    (r"h100 nvl", "NVIDIA H100 NVL", {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"h100.*pcie", "NVIDIA H100 PCIe", {"bf16": 756.5, "tf32": 378.0, "fp32": 51.0}),
    (r"h100", "NVIDIA H100 SXM", {"bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    # A100 datasheet (40/80 GB, SXM and PCIe alike): BF16 312, TF32 156 dense, FP32 19.5.
    (r"a100", "NVIDIA A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    # L4 datasheet: BF16 242.5, TF32 120 with sparsity; FP32 30.3.
    (r"\bl4\b", "NVIDIA L4", {"bf16": 121.0, "tf32": 60.0, "fp32": 30.3}),
    # A10 datasheet: BF16 125 (250 sparse), TF32 62.5 (125 sparse), FP32 31.2. NVIDIA publishes no
    # sheet for AWS's A10G (same GA102 chip, slightly different clocks): its MFU is approximate.
    (r"\ba10g?\b", "NVIDIA A10", {"bf16": 125.0, "tf32": 62.5, "fp32": 31.2}),
    # Ada whitepaper (RTX 4090): FP16/BF16 tensor with FP32 accumulate 165.2 dense, TF32 82.6.
    (r"rtx 4090", "NVIDIA RTX 4090", {"bf16": 165.2, "tf32": 82.6, "fp32": 82.6}),
    # Ampere GA102 whitepaper (RTX 3090): BF16 with FP32 accumulate 71 dense, TF32 35.6.
    (r"rtx 3090", "NVIDIA RTX 3090", {"bf16": 71.0, "tf32": 35.6, "fp32": 35.6}),
    # V100 datasheet (SXM2; PCIe): FP16 tensor 125 / 112, FP32 15.7 / 14. Volta has no bf16 or tf32
    # tensor cores (bf16 runs emulated), so no bf16 peak and tf32 falls back to fp32.
    (r"v100.*pcie", "NVIDIA V100 PCIe", {"bf16": None, "fp16": 112.0, "tf32": 14.0, "fp32": 14.0}),
    (r"v100", "NVIDIA V100 SXM2", {"bf16": None, "fp16": 125.0, "tf32": 15.7, "fp32": 15.7}),
]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_cores() -> int:
    """Cores this process may run on (a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_flops(device_name: str, precision: str = "bf16") -> float | None:
    """Dense peak FLOP/s of a known GPU at ``precision`` (bf16 | tf32 | fp32 | fp16); None if unknown or a CPU."""
    name = device_name.lower()
    for pattern, _, peaks in PEAKS:
        if re.search(pattern, name):
            tflops = peaks.get(precision)
            return None if tflops is None else tflops * 1e12
    return None


def mfu(tokens_per_second: float | None, flops_per_token: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: the FLOP/s the model's count implies (tokens/s times FLOPs per
    token, no recomputation counted) over the device's dense peak; None without a peak (a CPU, an
    unknown GPU) or without a rate."""
    if not tokens_per_second or not peak:
        return None
    return tokens_per_second * flops_per_token / peak
