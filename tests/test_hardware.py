"""Device selection and the peak-FLOP/s table used for MFU."""

from __future__ import annotations

import pytest
import torch

from harness.hardware import device_name, resolve_device
from harness.machine import peak_flops


@pytest.mark.parametrize("name,precision,tflops", [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.5),  # the SXM part reports no form factor
    ("NVIDIA H100 PCIe", "bf16", 756.5),
    ("NVIDIA H100 NVL", "tf32", 417.5),
    ("NVIDIA H200", "bf16", 989.5),
    ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
    ("NVIDIA A100 80GB PCIe", "tf32", 156.0),
    ("NVIDIA L4", "bf16", 121.0),
    ("NVIDIA A10G", "bf16", 125.0),
    ("NVIDIA A10", "fp32", 31.2),
    ("NVIDIA GeForce RTX 4090", "bf16", 165.2),
    ("NVIDIA GeForce RTX 3090", "bf16", 71.0),
    ("Tesla V100-SXM2-16GB", "fp16", 125.0),
])
def test_known_gpus_have_dense_peaks(name, precision, tflops):
    assert peak_flops(name, precision) == pytest.approx(tflops * 1e12)


def test_no_peak_where_none_is_known():
    assert peak_flops("Tesla V100-SXM2-16GB", "bf16") is None  # Volta has no bf16 tensor cores
    assert peak_flops("NVIDIA L40S", "bf16") is None  # "l4" must not match an L40S
    assert peak_flops("AMD EPYC 7B13 (2 cores)", "fp32") is None
    assert peak_flops(device_name("cpu"), "fp32") is None


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda:0")
    assert "cores)" in device_name("cpu")
