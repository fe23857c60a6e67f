"""KRR-ST (Lee et al., ICLR 2024) over token-embedding sequences. Free of Beam.

Learn m synthetic inputs X_s (m, L, d) with fixed masks and target representations Y_s (m, t) so
that kernel ridge regression from student features of X_s to Y_s predicts the frozen teacher's
representations of real texts. Teacher targets of real texts are precomputed (the `embeddings`
dataset), so an outer step never runs the teacher.

One outer step:
  1. sample a pool member f (a partially trained student) and a real batch (x_r, phi(x_r)) of B
  2. F_s = [f(X_s), 1] (m, h+1), with grad to X_s; F_r = [f(x_r), 1] (B, h+1), no grad
  3. lam = 1e-6 * tr(F_s F_s^T) (detached)
     dual:   W = F_s^T (F_s F_s^T + lam I_m)^-1 Y_s
     primal: W = (F_s^T F_s + lam I_{h+1})^-1 F_s^T Y_s   (used when h + 1 < m: then F_s F_s^T has
             rank h + 1 < m and the dual system is ill-conditioned; the two are equal otherwise)
  4. loss = mean((F_r W - phi(x_r))^2); AdamW on X_s and Y_s only, lr decays linearly to 1e-3x
  5. f takes one full-batch SGD step on MSE(head(f(X_s)), Y_s); after T steps it is re-initialised
     and its step counter reset to 0 (the reference code forgets the reset, so its pool drifts to
     only fresh students after a while)
"""

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from transforms.student.model import StudentSettings, TextStudent


@dataclass(frozen=True)
class KrrStSettings:
    m: int = 300  # synthetic examples
    pool_size: int = 10  # P
    pool_steps: int = 100  # T: a pool member is re-initialised after this many steps
    real_batch: int = 512  # B
    steps: int = 1000  # outer steps
    lr: float = 1e-3  # AdamW on X_s and Y_s
    final_lr_fraction: float = 1e-3
    pool_lr: float = 0.1  # full-batch SGD of pool members
    ridge: float = 1e-6  # lam = ridge * tr(K_ss)
    seed: int = 0


class PoolMember(nn.Module):
    """A student with a regression head onto the teacher space, and how far it has trained."""

    def __init__(self, student_config: StudentSettings, target_dim: int) -> None:
        super().__init__()
        self.student = TextStudent(student_config)
        self.head = nn.Linear(student_config.d_model, target_dim)
        self.steps_taken = 0

    def predict(self, inputs_embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.student(inputs_embeds, mask))


def krr_predict(features_s: torch.Tensor, targets_s: torch.Tensor, features_r: torch.Tensor,
                ridge: float) -> torch.Tensor:
    """KRR from (m, h) synthetic features to (m, t) targets, evaluated at (B, h) real features."""
    ones_s = features_s.new_ones(len(features_s), 1)
    ones_r = features_r.new_ones(len(features_r), 1)
    fs = torch.cat([features_s, ones_s], 1)  # (m, h+1)
    fr = torch.cat([features_r, ones_r], 1)  # (B, h+1)
    m, width = fs.shape
    if width < m:  # primal: a (h+1, h+1) system
        gram = fs.T @ fs  # (h+1, h+1)
        lam = ridge * torch.trace(gram).detach()  # tr(F^T F) = tr(F F^T)
        eye = torch.eye(width, dtype=fs.dtype, device=fs.device)
        weights = torch.linalg.solve(gram + lam * eye, fs.T @ targets_s)  # (h+1, t)
        return fr @ weights  # (B, t)
    kernel = fs @ fs.T  # (m, m)
    lam = ridge * torch.trace(kernel).detach()
    eye = torch.eye(m, dtype=fs.dtype, device=fs.device)
    return (fr @ fs.T) @ torch.linalg.solve(kernel + lam * eye, targets_s)  # (B, t)


class KrrStDistiller:
    """The whole optimisation state, so a checkpoint resumes exactly where a run left off.

    Random draws (pool initialisation, batch indices) come from CPU generators whatever the
    device, so a run on `cuda` samples the same batches as one on `cpu`."""

    def __init__(self, config: KrrStSettings, student_config: StudentSettings,
                 init_embeds: torch.Tensor, init_mask: torch.Tensor,
                 init_targets: torch.Tensor, device: str = "cpu") -> None:
        if config.m <= 0:
            raise ValueError(f"m must be positive, got {config.m}")
        if len(init_embeds) != config.m:
            raise ValueError(f"need {config.m} initial examples, got {len(init_embeds)}")
        if config.pool_steps < 2:
            raise ValueError("pool_steps (T) must be at least 2")
        self.config = config
        self.student_config = student_config
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = random.Random(config.seed)
        self.x_s = nn.Parameter(init_embeds.detach().float().to(self.device, copy=True))  # (m, L, d)
        self.mask_s = init_mask.detach().to(self.device, copy=True)  # (m, L), fixed
        self.y_s = nn.Parameter(init_targets.detach().float().to(self.device, copy=True))  # (m, t)
        self.optimiser = torch.optim.AdamW([self.x_s, self.y_s], lr=config.lr, weight_decay=0.0)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser,
            lambda step: 1.0 - (1.0 - config.final_lr_fraction) * min(step / config.steps, 1.0))
        self.pool = [self._fresh_member() for _ in range(config.pool_size)]
        for member in self.pool:  # stagger the pool: k ~ U{1..T-1} steps each
            for _ in range(self.rng.randint(1, config.pool_steps - 1)):
                self.train_member(member)
        self.step = 0
        self.losses: list[float] = []

    def _fresh_member(self) -> PoolMember:
        member = PoolMember(self.student_config, self.y_s.shape[1]).to(self.device)
        member.eval()  # no dropout: features must be a function of the inputs
        return member

    def train_member(self, member: PoolMember) -> None:
        """One full-batch SGD step on the synthetic set; X_s and Y_s are constants here."""
        member.zero_grad(set_to_none=True)
        loss = F.mse_loss(member.predict(self.x_s.detach(), self.mask_s), self.y_s.detach())
        loss.backward()
        with torch.no_grad():
            for parameter in member.parameters():
                parameter -= self.config.pool_lr * parameter.grad
        member.steps_taken += 1

    def outer_step(self, sample_batch: Callable[[torch.Generator], tuple]) -> float:
        """One update of X_s and Y_s. `sample_batch(generator)` returns a real batch
        (inputs_embeds (B, L, d), mask (B, L), teacher targets (B, t)) drawn with `generator`."""
        index = self.rng.randrange(len(self.pool))
        member = self.pool[index]
        embeds_r, mask_r, targets_r = (t.to(self.device) for t in sample_batch(self.generator))
        with torch.no_grad():
            features_r = member.student(embeds_r, mask_r)  # (B, h)
        features_s = member.student(self.x_s, self.mask_s)  # (m, h), grad to X_s
        predicted = krr_predict(features_s, self.y_s, features_r, self.config.ridge)  # (B, t)
        loss = F.mse_loss(predicted, targets_r)
        self.optimiser.zero_grad(set_to_none=True)
        member.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        self.schedule.step()
        self.train_member(member)
        if member.steps_taken >= self.config.pool_steps:
            self.pool[index] = self._fresh_member()
        self.step += 1
        self.losses.append(float(loss.detach()))
        return self.losses[-1]

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly as an uninterrupted one."""
        return {
            "step": self.step, "losses": list(self.losses),
            "x_s": self.x_s.detach().cpu().clone(), "y_s": self.y_s.detach().cpu().clone(),
            "optimiser": copy.deepcopy(self.optimiser.state_dict()),
            "schedule": self.schedule.state_dict(),
            "pool": [(copy.deepcopy(m.state_dict()), m.steps_taken) for m in self.pool],
            "generator": self.generator.get_state(), "rng": self.rng.getstate(),
            "torch_rng": torch.get_rng_state(), "numpy_rng": _numpy_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.losses = state["step"], list(state["losses"])
        with torch.no_grad():
            self.x_s.copy_(state["x_s"])
            self.y_s.copy_(state["y_s"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        self.pool = []
        for weights, steps_taken in state["pool"]:
            member = self._fresh_member()
            member.load_state_dict(weights)
            member.steps_taken = steps_taken
            self.pool.append(member)
        self.generator.set_state(state["generator"])
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        _set_numpy_state(state["numpy_rng"])


def _numpy_state() -> tuple:
    """numpy's global RNG state with its key array as a tensor: checkpoints hold only tensors
    and plain values, so they load with `torch.load(weights_only=True)` (no unpickling)."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss


def _set_numpy_state(state: tuple) -> None:
    name, keys, position, has_gauss, gauss = state
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
