"""A causal prior over a bundle's latent frames: a GRU predicting the next frame as a diagonal Gaussian mixture.

Frames are normalised per dimension with the bundle's ``latent_stats`` (mean, std) inside the module, so the
exported step takes and returns latents as the decoder reads them. Training runs ``nn.GRU`` over whole
sequences; export runs ``PriorStep``: the same weights as one explicit GRU step (matmuls, sigmoid, tanh) with the
recurrent state ``[layers, hidden]`` as an input and an output, so the player owns the state and can prime,
pause, fork or reset it.

A styled prior (``style=True``) also reads a conditioning vector for the whole generation: the mean and std of some
frames and a flag (``core.prior_frames.prior_style``; all zeros: none). Trained with the style of each crop's first
frames (or none, at random), it continues in the style of what primed it: an unconditioned prior's continuations
of speech faded out within a second (docs/prior.md).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

LOG_SCALE_MIN = -7.0  # a component's std never falls below e^-7 of the latent's std (no NaN from a collapse)


class LatentPrior(nn.Module):
    def __init__(self, dim: int, mean, std, hidden: int, layers: int, mixtures: int, style: bool):
        super().__init__()
        self.dim, self.hidden, self.layers, self.mixtures = int(dim), int(hidden), int(layers), int(mixtures)
        self.style = bool(style)
        self.register_buffer("z_mean", torch.as_tensor(mean, dtype=torch.float32).reshape(dim))
        self.register_buffer("z_std", torch.as_tensor(std, dtype=torch.float32).reshape(dim).clamp_min(1e-4))
        self.inp = nn.Linear(dim, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, mixtures * (1 + 2 * dim))
        self.sty = nn.Linear(2 * dim + 1, hidden) if self.style else None

    def config(self) -> dict:
        return {"dim": self.dim, "hidden": self.hidden, "layers": self.layers, "mixtures": self.mixtures,
                "style": self.style}  # fmt: skip

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.z_mean) / self.z_std

    def embed(self, z: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """The GRU's input for frames z [B, T, D] under ``style`` [B, 2D + 1] (raw units; None or zeros: none)."""
        x = self.inp(self.normalise(z))
        if self.sty is not None:
            if style is None:
                style = torch.zeros(z.shape[0], 2 * self.dim + 1)
            d, flag = self.dim, style[:, -1:]
            mean, std = (style[:, :d] - self.z_mean) / self.z_std, style[:, d : 2 * d] / self.z_std
            x = x + self.sty(torch.cat([mean * flag, std * flag, flag], -1))[:, None]
        return torch.tanh(x)

    def _split(self, out: torch.Tensor):
        """Head output [..., K (1 + 2D)] -> logits [..., K], mean [..., K, D], log_scale [..., K, D] (normalised)."""
        k, d = self.mixtures, self.dim
        logits = out[..., :k]
        mean = out[..., k : k + k * d].reshape(*out.shape[:-1], k, d)
        log_scale = out[..., k + k * d :].reshape(*out.shape[:-1], k, d).clamp(LOG_SCALE_MIN, 3.0)
        return logits, mean, log_scale

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None, style: torch.Tensor | None = None):
        """z float32[B, T, D] (raw latents) -> (logits, mean, log_scale) of frame t + 1 given frames <= t, in
        normalised units, and the final state [layers, B, hidden]. ``style``: a styled prior's [B, 2D + 1]."""
        x = self.embed(z, style)
        y, h = self.gru(x, h)
        return (*self._split(self.head(y)), h)

    def _ll(self, logits, mean, log_scale, z_next: torch.Tensor) -> torch.Tensor:
        """Log-likelihood [B, T] of raw frames ``z_next`` [B, T, D] under the mixtures predicted for them."""
        target = self.normalise(z_next).unsqueeze(-2)  # [B, T, 1, D]
        comp = -0.5 * ((target - mean) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(F.log_softmax(logits, -1) + comp.sum(-1), -1)

    def nll(
        self,
        z: torch.Tensor,
        input_noise: float = 0.0,
        trained: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean negative log-likelihood per frame and dimension (nats) of frames 1..T-1 given the frames before.
        ``input_noise``: std (normalised units) of noise added to the conditioning frames only, so the model
        learns to recover from its own sampling errors. ``trained``: bool[B, T], False for frames whose
        prediction is left out of the mean (they still condition the frames after them); None trains all.
        ``style``: a styled prior's conditioning per crop [B, 2D + 1] (None: none)."""
        return self.rollout_nll(z, 0, input_noise, trained, style)

    def rollout_nll(
        self,
        z: torch.Tensor,
        frames: int,
        input_noise: float = 0.0,
        trained: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``nll`` with the last ``frames`` conditioning frames the prior's own samples (drawn from what it predicted,
        not differentiated through) instead of the recording's, each still scored against the recording: it learns
        to come back toward the sound it continues after its own draws moved away (sampled continuations drifted
        quieter than what they continued, docs/prior.md). ``frames`` 0 is teacher forcing: ``nll``."""
        k = max(1, z.shape[1] - 1 - int(frames))
        cond = z[:, :k]
        if input_noise > 0:
            cond = cond + torch.randn_like(cond) * input_noise * self.z_std
        logits, mean, log_scale, h = self(cond, None, style)
        lls = [self._ll(logits, mean, log_scale, z[:, 1 : k + 1])]
        for j in range(k, z.shape[1] - 1):
            with torch.no_grad():
                pick = torch.distributions.Categorical(logits=logits[:, -1]).sample()[:, None, None]
                mu = mean[:, -1].gather(1, pick.expand(-1, 1, self.dim))[:, 0]
                sd = torch.exp(log_scale[:, -1].gather(1, pick.expand(-1, 1, self.dim))[:, 0])
                drawn = (mu + sd * torch.randn_like(mu)) * self.z_std + self.z_mean
            logits, mean, log_scale, h = self(drawn[:, None], h, style)
            lls.append(self._ll(logits, mean, log_scale, z[:, j + 1 : j + 2]))
        ll = torch.cat(lls, 1)  # [B, T-1]
        if trained is None:
            return -ll.mean() / self.dim
        w = trained[:, 1:].to(ll.dtype)
        return -(ll * w).sum() / w.sum().clamp_min(1.0) / self.dim


class PriorStep(nn.Module):
    """One frame of ``LatentPrior`` for export: (z float32[1, D], state float32[1, layers, hidden][, style
    float32[1, 2D + 1] for a styled prior]) -> (logits [1, K], mean [1, K, D], scale [1, K, D] in raw latent units,
    next state)."""

    def __init__(self, prior: LatentPrior):
        super().__init__()
        self.prior = prior

    def forward(self, z: torch.Tensor, state: torch.Tensor, style: torch.Tensor | None = None):
        p = self.prior
        x = p.embed(z[:, None], style)[:, 0]
        nxt = []
        for layer in range(p.layers):
            h = state[:, layer]
            w_ih, w_hh = getattr(p.gru, f"weight_ih_l{layer}"), getattr(p.gru, f"weight_hh_l{layer}")
            b_ih, b_hh = getattr(p.gru, f"bias_ih_l{layer}"), getattr(p.gru, f"bias_hh_l{layer}")
            gi = F.linear(x, w_ih, b_ih)
            gh = F.linear(h, w_hh, b_hh)
            i_r, i_z, i_n = gi.chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r = torch.sigmoid(i_r + h_r)
            u = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h = (1 - u) * n + u * h
            nxt.append(h)
            x = h
        logits, mean, log_scale = p._split(p.head(x))
        mean = mean * p.z_std + p.z_mean
        scale = torch.exp(log_scale) * p.z_std
        return logits, mean, scale, torch.stack(nxt, 1)
