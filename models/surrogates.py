"""Spike functions: Heaviside forward with surrogate gradients, and stochastic escape noise.

Deterministic spikes: ``s = H(x)`` with ``x = v - vth`` and ``H(x) = 1 if x > 0`` (strict, as
Loihi 2 compares ``v > vth``). The backward pass uses a surrogate derivative ``g(x)``:

====================  ====================================  ==============================
kind                  g(x)                                  matching escape function p(x)
====================  ====================================  ==============================
``superspike``        ``1 / (beta |x| + 1)**2``              (deterministic limit)
``fast_sigmoid``      same as superspike                    (alias)
``sigmoid``           ``beta s(beta x) (1 - s(beta x))``      ``s(beta x)``, s = logistic
``arctan``            ``beta / (pi (1 + (beta x)**2))``       ``1/2 + arctan(beta x) / pi``
``exponential``       ``p0 beta exp(beta x)`` where p < 1   ``min(1, p0 exp(beta x))``
====================  ====================================  ==============================

Stochastic spikes (Gygax & Zenke 2024): in training, ``s ~ Bernoulli(p(x))`` for an escape
function p, and the backward pass uses ``p'(x)``: stochastic automatic differentiation, of
which the deterministic surrogate is the zero-noise limit. In evaluation (and on the chip)
spikes are deterministic, ``H(x)``. ``beta`` is in 1/(units of v); typical 10 with vth = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurodeploy.errors import InputError

SURROGATES = ("superspike", "fast_sigmoid", "sigmoid", "arctan", "exponential")
ESCAPE_FUNCTIONS = ("sigmoid", "exponential")


def escape_probability(
    kind: str, x: torch.Tensor, beta: float, p0: float = 0.01
) -> torch.Tensor:
    """Spike probability p(x) of an escape-noise neuron (``x = v - vth``)."""
    if kind == "sigmoid":
        return torch.sigmoid(beta * x)
    if kind == "exponential":
        return torch.clamp(p0 * torch.exp(beta * x), max=1.0)
    if kind == "arctan":
        return 0.5 + torch.atan(beta * x) / math.pi
    raise InputError(f"escape function {kind!r} is unknown; allowed: {', '.join(ESCAPE_FUNCTIONS)}")


def surrogate_derivative(kind: str, x: torch.Tensor, beta: float, p0: float = 0.01) -> torch.Tensor:
    """The surrogate derivative g(x) of spike function ``kind`` (see the module table)."""
    if kind in ("superspike", "fast_sigmoid"):
        return 1.0 / (beta * x.abs() + 1.0) ** 2
    if kind == "sigmoid":
        s = torch.sigmoid(beta * x)
        return beta * s * (1.0 - s)
    if kind == "arctan":
        return beta / (math.pi * (1.0 + (beta * x) ** 2))
    if kind == "exponential":
        e = p0 * torch.exp(beta * x)
        return torch.where(e < 1.0, beta * e, torch.zeros_like(e))
    raise InputError(f"surrogate {kind!r} is unknown; allowed: {', '.join(SURROGATES)}")


def surrogate_derivative_(
    kind: str, x: torch.Tensor, beta: float, p0: float = 0.01
) -> torch.Tensor:
    """:func:`surrogate_derivative` computed in place on ``x`` (which it overwrites)."""
    if kind in ("superspike", "fast_sigmoid"):
        x.abs_().mul_(beta).add_(1.0)
        return x.mul_(x).reciprocal_()
    if kind == "sigmoid":
        x.mul_(beta).sigmoid_()
        return x.mul_(1.0 - x).mul_(beta)
    return surrogate_derivative(kind, x, beta, p0)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside (or Bernoulli) forward, ``grad * g(x)`` backward."""

    @staticmethod
    def forward(ctx, x, kind, beta, p0, stochastic):
        ctx.save_for_backward(x)
        ctx.kind, ctx.beta, ctx.p0 = kind, beta, p0
        if stochastic:
            p = escape_probability(kind, x, beta, p0)
            return (torch.rand_like(x) < p).to(x.dtype)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(ctx.kind, x, ctx.beta, ctx.p0), None, None, None, None


@dataclass(frozen=True)
class SpikeFn:
    """A spike function: ``kind`` (surrogate / escape function), ``beta`` (its scale),
    ``stochastic`` (sample spikes from the escape function while training), ``p0`` (the
    exponential escape function's probability at threshold)."""

    kind: str = "superspike"
    beta: float = 10.0
    stochastic: bool = False
    p0: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in SURROGATES:
            raise InputError(
                f"surrogate = {self.kind!r} is unknown; allowed: {', '.join(SURROGATES)}")
        if self.stochastic and self.kind not in ESCAPE_FUNCTIONS:
            raise InputError(
                f"surrogate = {self.kind!r} has no escape function for stochastic neurons; "
                f"allowed with --stochastic: {', '.join(ESCAPE_FUNCTIONS)}"
            )
        if not self.beta > 0:
            raise InputError(f"beta = {self.beta} must be > 0")

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """Spikes for ``x = v - vth``; stochastic only when ``training`` and enabled."""
        return _SpikeFunction.apply(x, self.kind, self.beta, self.p0, self.stochastic and training)
