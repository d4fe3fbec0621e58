"""Mel-spectrogram VAE: log-mel front end -> conv encoder -> Gaussian latent -> decoder with two heads.

The decoder's learned inverse-STFT head gives the audio (the better inversion); a mel head predicts the input's
normalised log-mel so the research's baseline (Griffin-Lim from the mel) can be run and measured on the player.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import ResidualUnit, conv1d
from .bottleneck import GaussianBottleneck
from .causal import name_states, random_gain, state_shapes_of, stream_modules
from .decoder import ISTFTDecoder
from .family import AudioAutoencoder
from .mel import MelFrontEnd


class MelEncoder(nn.Module):
    """normalised log-mel float32[B, n_mels, F] -> params float32[B, out_channels, F] (no time striding)."""

    def __init__(self, n_mels: int, out_channels: int, channels: int = 128, blocks: int = 3, causal: bool = False):
        super().__init__()
        layers: list[nn.Module] = [conv1d(n_mels, channels, 3, causal=causal)]
        layers += [ResidualUnit(channels, kernel=3, dilation=3**i, causal=causal) for i in range(blocks)]
        layers += [nn.LeakyReLU(0.1), conv1d(channels, out_channels, 3, causal=causal)]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel)

    def state_shapes(self):
        return state_shapes_of(self.net)

    def stream(self, mel: torch.Tensor, states: list[torch.Tensor]):
        return stream_modules(self.net, mel, states)


class MelISTFTDecoder(ISTFTDecoder):
    """latent float32[B, D, F] -> (audio float32[B, 1, F*hop], normalised log-mel float32[B, n_mels, F])."""

    def __init__(
        self,
        latent_dim: int,
        n_mels: int,
        channels: int = 256,
        blocks: int = 6,
        n_fft: int = 1024,
        hop: int = 256,
        phase: str = "direct",
        causal: bool = False,
        hidden: int = 0,
    ):
        super().__init__(latent_dim, channels, blocks, n_fft, hop, phase, causal, hidden)
        self.mel_head = nn.Conv1d(channels, n_mels, 1)

    def both(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(z)
        return self.audio(h), self.mel_head(h)


class MelVAE(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux).

    One latent level 'z' (``latent_dim`` channels, one frame per ``hop`` = prod(strides) samples, i.e. per mel
    frame). aux adds ``loss/mel_head`` (L1 between predicted and input normalised log-mel, times
    ``mel_head_weight``) to the Gaussian bottleneck's ``loss/kl``.

    ``causal=True`` (docs/streaming.md): STFT frames end at the current sample, every convolution is left-padded,
    norms are per frame and the inverse STFT's overlap tail is state, so ``encode_stream``/``decode_stream`` run
    block by block with explicit state tensors and equal ``encode``/``decode`` on the whole signal. The decoder's
    output is trained to reproduce the input ``lookahead`` frames late (``delay`` = lookahead * hop samples): output
    sample t reconstructs input sample t - delay. There is no per-window loudness normalisation (it needs the
    future): ``random_gain_db`` = [low, high] scales each training chunk by a random gain in that range (undone
    on the output, so the losses stay at the chunk's level) and the model learns every level itself.
    """

    family = "mel-vae"
    gaussian = True

    def __init__(
        self,
        *,
        sample_rate: int,
        latent_dim: int,
        n_mels: int,
        strides: tuple[int, ...],
        enc_max_channels: int,
        dec_channels: int,
        dec_blocks: int,
        n_fft: int,
        mel_norm_mean: float,
        mel_norm_std: float,
        mel_head_weight: float,
        free_bits: float,
        mel_log_floor: float,
        phase: str,
        causal: bool,
        lookahead: int,
        random_gain_db: tuple[float, float],
        dec_hidden: int,
    ):
        super().__init__()
        if lookahead and not causal:
            raise ValueError("lookahead applies to causal models only")
        if int(lookahead) < 0:
            raise ValueError("lookahead must be >= 0 frames")
        hop = 1
        for s in strides:
            hop *= int(s)
        self.hop = hop
        self.causal, self.lookahead = bool(causal), int(lookahead)
        self.delay = self.lookahead * hop
        self.random_gain_db = tuple(float(g) for g in random_gain_db)
        self.front = MelFrontEnd(sample_rate, n_fft, hop, n_mels, mel_norm_mean, mel_norm_std, mel_log_floor, causal)
        self.encoder = MelEncoder(n_mels, 2 * latent_dim, enc_max_channels, causal=causal)
        self.bottleneck = GaussianBottleneck(latent_dim, free_bits)
        self.decoder = MelISTFTDecoder(
            latent_dim, n_mels, dec_channels, dec_blocks, n_fft, hop, phase, causal, dec_hidden
        )
        self.mel_head_weight = float(mel_head_weight)
        self.levels = (("z", latent_dim, hop),)
        if causal:
            name_states(self)

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Posterior means {'z': float32[B, D, T / hop]}; T a multiple of hop."""
        return {"z": self.bottleneck.deterministic(self.encoder(self.front(audio)))}

    def posterior(self, audio: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{'z': (mean, std)}, each float32[B, D, T / hop]: export adds std as the encoder's 'z_scale' output."""
        return {"z": self.bottleneck.split(self.encoder(self.front(audio)))}

    def quantize(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return latents

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(latents["z"])

    def decode_extra(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Extra decoder outputs exported next to 'audio': {'mel': normalised log-mel float32[B, n_mels, F]}."""
        return {"mel": self.decoder.both(latents["z"])[1]}

    # ---- streaming (causal only) -------------------------------------------------------------------------
    def stream_state_shapes(self) -> dict[str, list[tuple[str, int, int]]]:
        """Per part, the state tensors float32[B, channels, frames] that ``encode_stream``/``decode_stream`` carry,
        as (name, channels, frames), in call order. Zeros are the initial state."""
        if not self.causal:
            raise ValueError("only a causal model streams")
        return {
            "encoder": self.front.state_shapes() + self.encoder.state_shapes(),
            "decoder": self.decoder.state_shapes(),
        }

    def posterior_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        """audio float32[B, 1, N] (N a multiple of hop) + encoder states -> ({'z': (mean, std)}, states)."""
        mel, out = self.front.stream(audio, states[:1])
        params, more = self.encoder.stream(mel, states[1:])
        return {"z": self.bottleneck.split(params)}, out + more

    def encode_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        """audio float32[B, 1, N] (N a multiple of hop) + encoder states -> ({'z': float32[B, D, N / hop]}, states)."""
        post, states = self.posterior_stream(audio, states)
        return {name: mean for name, (mean, _) in post.items()}, states

    def decode_stream(self, latents: dict[str, torch.Tensor], states: list[torch.Tensor]):
        """{'z': float32[B, D, F]} + decoder states -> (audio float32[B, 1, F * hop], states)."""
        return self.decoder.stream(latents["z"], states)

    def _gain(self, x: torch.Tensor) -> torch.Tensor:
        return random_gain(x, self.random_gain_db, self.training)

    def extra_manifest(self) -> dict:
        return {"mel": self.front.manifest_entry()}

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t = audio.shape[-1]
        gain = self._gain(audio)
        # causal: `delay` zeros after the chunk so the delayed output covers all of it
        x = F.pad(audio * gain, (0, (-t) % self.hop + self.delay))
        mel = self.front(x)
        z, aux = self.bottleneck(self.encoder(mel))
        y, mel_pred = self.decoder.both(z)
        la = self.lookahead  # the decoder's frame f stands for the input's frame f - lookahead
        target = mel[..., : mel.shape[-1] - la].detach()
        aux["loss/mel_head"] = self.mel_head_weight * (mel_pred[..., la:] - target).abs().mean()
        aux["latent/z"] = z.detach()
        return y[..., self.delay : self.delay + t] / gain, aux

    def components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "bottleneck": self.bottleneck, "decoder": self.decoder}
