"""One training step, the only one: what a run does, what harness-plan times and what
scripts/bench_train.py measures.

    step = TrainStep.build(model, device, cfg.optim, cfg.schedule, cfg.train, steps, warmup_steps)
    loss = step(batch)          # forward, loss, backward, clip, AdamW, schedule; the loss stays on the device

Choices made here, for every caller alike:

* precision: ``train.precision`` auto is bf16 autocast on CUDA and fp32 on the CPU; the loss is
  always computed in fp32 (harness.model.forward_loss).
* AdamW is fused on CUDA (one kernel for every parameter); on the CPU it is torch's default,
  so CPU results stay what they were.
* ``train.compile`` compiles the model on CUDA with ``train.compile_mode``; "reduce-overhead"
  replays the step's kernels as CUDA graphs, which is what keeps a GPU busy on tiny shapes whose
  kernels are shorter than their launch.
* Nothing here waits for the device: the step returns the loss as a device tensor, and the caller
  reads it (``.item()``, a host sync) only when it needs the number.
"""

from __future__ import annotations

import contextlib
import time

import torch

from harness.config import OptimConfig, ScheduleConfig, TrainConfig
from harness.flops import Shape
from harness.model import build_model, forward_loss, param_groups
from harness.schedule import lr_factor


def uses_bf16(device: torch.device, precision: str) -> bool:
    """Whether a run of this precision setting trains under bf16 autocast on ``device``."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, precision: str):
    """The precision context of the forward pass (training and evaluation alike)."""
    if uses_bf16(device, precision):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_optimizer(model: torch.nn.Module, optim: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    # fused=True only on CUDA: on the CPU the fused kernel's arithmetic differs from the default
    # one in the last bits, and CPU results must stay bit for bit what they were.
    fused = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(param_groups(model, optim.weight_decay), lr=optim.lr,
                             betas=(optim.beta1, optim.beta2), eps=optim.eps, **fused)


def build_scheduler(optimizer: torch.optim.Optimizer, steps: int, warmup_steps: int,
                    schedule: ScheduleConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, steps, warmup_steps, schedule))


class TrainStep:
    """Forward, loss, backward, gradient clipping, AdamW and the schedule's step, in that order.

    ``model`` is the module (checkpoints save it); ``forward_model`` is what the forward pass
    runs, the compiled module when ``train.compile`` is on (CUDA only).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR | None, device: torch.device, *,
                 precision: str = "auto", grad_clip: float = 0.0, compile: bool = False,
                 compile_mode: str = "default") -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.device, self.precision, self.grad_clip = device, precision, grad_clip
        self.compiled = compile and device.type == "cuda"
        self.cudagraphs = self.compiled and compile_mode == "reduce-overhead"
        self.forward_model = torch.compile(model, mode=compile_mode) if self.compiled else model
        # parameters() walks every module of a transformers model; the list is taken once. A tied
        # tensor appears once, as in clip_grad_norm_.
        self.params = list(model.parameters())

    @classmethod
    def build(cls, model: torch.nn.Module, device: torch.device, optim: OptimConfig, schedule: ScheduleConfig,
              train: TrainConfig, steps: int, warmup_steps: int) -> "TrainStep":
        """The step a run of these settings takes: AdamW, the schedule over ``steps``, clipping,
        precision and compile choices."""
        optimizer = build_optimizer(model, optim, device)
        return cls(model, optimizer, build_scheduler(optimizer, steps, warmup_steps, schedule), device,
                   precision=train.precision, grad_clip=optim.grad_clip, compile=train.compile,
                   compile_mode=train.compile_mode)

    @classmethod
    def for_shape(cls, shape: Shape, device: torch.device, optim: OptimConfig | None = None,
                  schedule: ScheduleConfig | None = None, train: TrainConfig | None = None,
                  steps: int = 1000, warmup_steps: int = 10, init_std: float = 0.02) -> "TrainStep":
        """A fresh model of ``shape`` on ``device`` and its step (the planner's probe, the benchmark)."""
        model = build_model(shape, init_std=init_std).to(device)
        return cls.build(model, device, optim or OptimConfig(), schedule or ScheduleConfig(),
                         train or TrainConfig(), steps, warmup_steps)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """One optimizer step on ``batch`` [B, S+1]; returns the (detached) loss on the device."""
        if self.cudagraphs:
            # Tells the CUDA-graph trees that a new iteration begins, so the previous step's
            # graph outputs may be overwritten (the loss below is computed eagerly, not in the graph).
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.device, self.precision):
            loss = forward_loss(self.forward_model, batch)
        loss.backward()
        if self.grad_clip > 0:
            self._clip_grads()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()

    def _clip_grads(self) -> None:
        """torch.nn.utils.clip_grad_norm_(params, grad_clip), the same kernels in the same order,
        so the same bits. On the CPU, where reading the coefficient costs no device sync, the
        multiply is skipped when the coefficient is exactly 1 (the norm is under the limit):
        x * 1.0 == x for every float, so skipping it changes nothing but the time of a pass over
        every gradient. On CUDA it always multiplies, never waiting for the device."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return
        total = torch.nn.utils.get_total_norm(grads, 2.0)
        # clip_grads_with_norm_ multiplies by min(coef, 1) with coef computed as here: 1 exactly
        # when coef >= 1 (a nan coefficient compares false and is multiplied in, as torch does).
        if self.device.type == "cpu" and (self.grad_clip / (total + 1e-6)).item() >= 1.0:
            return
        torch.nn.utils.clip_grads_with_norm_(self.params, self.grad_clip, total)

    def lr_at(self, step: int) -> float:
        """The learning rate the schedule gives after ``step`` optimizer steps (the same product
        LambdaLR computes), whatever step the scheduler is at now."""
        assert self.scheduler is not None
        return self.scheduler.base_lrs[0] * self.scheduler.lr_lambdas[0](step)


class StepTimer:
    """Seconds spent inside training steps. On the CPU a clock around each step. On CUDA a pair of
    CUDA events around each step, read only by ``pop_seconds`` (which waits for the last step to
    finish): timing never stalls the host per step, as torch.cuda.synchronize() would."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._pending: list = []  # (start, end) events, or perf_counter pairs on the CPU
        self._t0: float | torch.cuda.Event = 0.0

    def start(self) -> None:
        if self.cuda:
            self._t0 = torch.cuda.Event(enable_timing=True)
            self._t0.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._pending.append((self._t0, end))
        else:
            self._pending.append((self._t0, time.perf_counter()))

    def pop_seconds(self) -> list[float]:
        """Each step's seconds since the last call, in order."""
        if self.cuda and self._pending:
            self._pending[-1][1].synchronize()
            out = [s.elapsed_time(e) / 1e3 for s, e in self._pending]
        else:
            out = [e - s for s, e in self._pending]
        self._pending = []
        return out
