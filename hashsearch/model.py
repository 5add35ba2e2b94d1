"""The deep binary autoencoder (torch). Weights, input statistics included, are saved as safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

MODEL_FILE = "model.safetensors"


class Bag(NamedTuple):
    """Sparse (bag-of-words) rows in the form ``embedding_bag`` takes: the CSR arrays as tensors."""

    indices: torch.Tensor  # int64 (nnz,): column of each stored value
    offsets: torch.Tensor  # int64 (rows,): where each row starts in ``indices``
    weights: torch.Tensor  # float32 (nnz,)
    shape: tuple[int, int]

    is_sparse = True

    def with_weights(self, weights: torch.Tensor) -> Bag:
        return self._replace(weights=weights)

    def to_dense(self) -> torch.Tensor:
        counts = torch.diff(torch.cat([self.offsets, torch.tensor([len(self.indices)])]))
        rows = torch.repeat_interleave(torch.arange(self.shape[0]), counts)
        out = torch.zeros(self.shape)
        out.index_put_((rows, self.indices), self.weights, accumulate=True)
        return out


def as_tensor(x: object) -> torch.Tensor | Bag:
    """Rows for the model: scipy sparse rows become a :class:`Bag`, the rest a dense float32 tensor."""
    if hasattr(x, "tocsr"):
        c = x.tocsr()  # type: ignore[union-attr]
        return Bag(
            torch.from_numpy(c.indices.astype(np.int64)),
            torch.from_numpy(c.indptr[:-1].astype(np.int64)),
            torch.from_numpy(np.asarray(c.data, dtype=np.float32)),
            (int(c.shape[0]), int(c.shape[1])),
        )
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def as_dense(x: object) -> np.ndarray:
    """Rows as a dense float32 array (scipy sparse rows are densified)."""
    if hasattr(x, "toarray"):
        x = x.toarray()  # type: ignore[union-attr]
    return np.asarray(x, dtype=np.float32)


class BagLinear(nn.Module):
    """The first layer of a bag-of-words encoder: weight stored (in, out), one row per word, so a
    document costs its words' rows (``embedding_bag``) instead of a pass over the vocabulary."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        ref = nn.Linear(in_features, out_features)  # the same initialisation as a dense layer
        self.weight = nn.Parameter(ref.weight.detach().t().contiguous())
        self.bias = nn.Parameter(ref.bias.detach().clone())

    def forward(self, x: torch.Tensor | Bag) -> torch.Tensor:
        if isinstance(x, Bag):
            h = F.embedding_bag(x.indices, self.weight, x.offsets, mode="sum", per_sample_weights=x.weights)
            return h + self.bias
        return x @ self.weight + self.bias


def _mlp(sizes: list[int], final_activation: bool, bag_input: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(BagLinear(a, b) if (i == 0 and bag_input) else nn.Linear(a, b))
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
        self.encoder = _mlp([input_dim, *hidden], final_activation=True, bag_input=bow)
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

    def pre_activations(self, x: torch.Tensor | Bag) -> torch.Tensor:
        """Bottleneck before normalisation. Sparse (bag-of-words) input multiplies sparsely."""
        if isinstance(x, Bag):  # BagLinear first: a sum of the present words' rows
            return self.head(self.encoder(x))
        return self.head(self.encoder(self.standardize(x)))

    def logits(self, x: torch.Tensor | Bag) -> torch.Tensor:
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
        state = load_file(str(directory / MODEL_FILE))
        first = state.get("encoder.0.weight")
        if bow and first is not None and tuple(first.shape) == (hidden[0], input_dim) != (input_dim, hidden[0]):
            state["encoder.0.weight"] = first.t().contiguous()  # saved by a version with a dense first layer
        m.load_state_dict(state)
        m.eval()
        return m
