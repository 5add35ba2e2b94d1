"""The deep binary autoencoder (torch). Weights, input statistics included, are saved as safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

MODEL_FILE = "model.safetensors"


def as_tensor(x: object) -> torch.Tensor:
    """Rows as a torch tensor: scipy sparse rows become a sparse COO tensor, the rest dense float32."""
    if hasattr(x, "tocoo"):
        c = x.tocoo()  # type: ignore[union-attr]
        idx = torch.as_tensor(np.vstack([c.row, c.col]).astype(np.int64))
        return torch.sparse_coo_tensor(
            idx, torch.as_tensor(c.data, dtype=torch.float32), c.shape, check_invariants=False
        ).coalesce()
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def as_dense(x: object) -> np.ndarray:
    """Rows as a dense float32 array (scipy sparse rows are densified)."""
    if hasattr(x, "toarray"):
        x = x.toarray()  # type: ignore[union-attr]
    return np.asarray(x, dtype=np.float32)


def _mlp(sizes: list[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers += [nn.LayerNorm(b), nn.GELU()]
    return nn.Sequential(*layers)


class BinaryAutoencoder(nn.Module):
    """input -> hidden... -> bits (batch-normalised, binarised) -> ...hidden -> input.

    The bottleneck pre-activations pass a non-affine BatchNorm, so each bit's threshold sits at
    the training median region and bits come out balanced. Binarisation is the sign, trained
    with the straight-through estimator (or Bernoulli sampling with ``stochastic=True``).
    """

    def __init__(self, input_dim: int, bits: int, hidden: tuple[int, ...] = (1024, 512), bow: bool = False) -> None:
        super().__init__()
        if len(hidden) < 1:
            raise ValueError("at least one hidden layer")
        self.input_dim, self.bits, self.hidden, self.bow = input_dim, bits, tuple(hidden), bow
        self.encoder = _mlp([input_dim, *hidden], final_activation=True)
        self.head = nn.Linear(hidden[-1], bits)
        self.norm = nn.BatchNorm1d(bits, affine=False, momentum=0.01)
        self.decoder = _mlp([bits, *reversed(hidden), input_dim], final_activation=False)
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("scale", torch.ones(input_dim))

    def set_input_stats(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck before normalisation. Sparse (bag-of-words) input multiplies sparsely."""
        if x.is_sparse:
            first = self.encoder[0]
            h = torch.sparse.mm(x, first.weight.T) + first.bias
            return self.head(self.encoder[1:](h))
        return self.head(self.encoder(self.standardize(x)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck pre-activations, normalised: the code is their sign."""
        return self.norm(self.pre_activations(x))

    def binarize(self, z: torch.Tensor, stochastic: bool = False) -> torch.Tensor:
        if stochastic and self.training:
            p = torch.sigmoid(z)
            hard = torch.bernoulli(p) * 2 - 1
            soft = 2 * p - 1
        else:
            soft = torch.tanh(z)
            hard = torch.where(z > 0, 1.0, -1.0)
        return soft + (hard - soft).detach()

    def decode(self, b: torch.Tensor) -> torch.Tensor:
        return self.decoder(b)

    # -- inference ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: np.ndarray | object, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """(bits bool (n, bits), latent float32 (n, bits)) for dense float rows ``x``."""
        self.eval()
        signs, latents = [], []
        for s in range(0, x.shape[0], batch_size):
            z = self.logits(as_tensor(x[s : s + batch_size]))
            signs.append((z > 0).numpy())
            latents.append(torch.tanh(z).numpy())
        if not signs:
            return np.empty((0, self.bits), bool), np.empty((0, self.bits), np.float32)
        return np.concatenate(signs), np.concatenate(latents)

    @torch.no_grad()
    def reconstruction_error(self, x: np.ndarray | object, batch_size: int = 8192) -> np.ndarray:
        """Per-row reconstruction error through the binary code: an anomaly score."""
        self.eval()
        out = []
        for s in range(0, x.shape[0], batch_size):
            xb = torch.as_tensor(as_dense(x[s : s + batch_size]))
            b = self.binarize(self.logits(xb))
            rec = self.decode(b)
            if self.bow:
                p = xb / xb.sum(1, keepdim=True).clamp_min(1e-8)
                out.append(-(p * torch.log_softmax(rec, 1)).sum(1).numpy())
            else:
                out.append(((rec - self.standardize(xb)) ** 2).mean(1).numpy())
        return np.concatenate(out) if out else np.empty(0, np.float32)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / MODEL_FILE))

    @classmethod
    def load(cls, directory: Path, input_dim: int, bits: int, hidden: tuple[int, ...], bow: bool) -> BinaryAutoencoder:
        m = cls(input_dim, bits, hidden, bow)
        m.load_state_dict(load_file(str(directory / MODEL_FILE)))
        m.eval()
        return m
