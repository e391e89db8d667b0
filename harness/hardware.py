"""Which torch device a run uses and what it is called (the peaks and MFU arithmetic, which need no
torch, are harness/machine.py)."""

from __future__ import annotations

import torch

from harness.machine import cpu_cores, cpu_model


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> the first GPU if there is one, else the CPU; ``cpu``, ``cuda`` or ``cuda:N`` as asked."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {spec!r} asked for, but torch sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device: {spec!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type != "cpu":
        raise ValueError(f"device: {spec!r} is not one of auto, cpu, cuda, cuda:N")
    return device


def device_name(device: torch.device | str) -> str:
    """The GPU's name, or the CPU model with the number of cores this process may use."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({cpu_cores()} cores)"
