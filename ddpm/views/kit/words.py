"""What the screen calls a network, its output and its loss: words derived from its config.

Every label, status line and explanation that names a parameterization, a loss or a network takes
its words from here, with the :class:`ddpm.unet.UNetConfig` of the network that ran (never a
constant), so the app stays true when another checkpoint is loaded (``DDPM_CHECKPOINT``). The kit
imports no network module: the words read the three fields of :class:`NetworkConfig`.
"""

from __future__ import annotations

from typing import Protocol


class NetworkConfig(Protocol):
    """What the words read of a network's config: the fields of a :class:`ddpm.unet.UNetConfig`."""

    parameterization: str  # what the network predicts: one of ddpm.choices.PARAMETERIZATIONS
    num_classes: int  # class labels it takes (0: unconditional)
    learn_sigma: bool  # whether it also outputs σ² (learned) or σ² is fixed


SYMBOLS = {"eps": "ε", "x0": "x₀", "v": "v"}
"""Each parameterization's symbol (:data:`ddpm.choices.PARAMETERIZATIONS`), as plain text."""
LATEX_SYMBOLS = {"eps": r"\varepsilon", "x0": "x_0", "v": "v"}
"""The same symbols in LaTeX."""
HATS = {"eps": "ε̂", "x0": "x̂₀", "v": "v̂"}
"""The network's estimate of each target, as plain text."""
TARGETS = {
    "eps": "the noise ε",
    "x0": "the clean digit x₀",
    "v": "v = √ᾱₜ ε − √(1−ᾱₜ) x₀",
}
"""What a network of each parameterization was trained to predict, in words."""


def symbol(config: NetworkConfig) -> str:
    """The symbol of what the network predicts: "ε", "x₀" or "v"."""
    return SYMBOLS[config.parameterization]


def variance_words(config: NetworkConfig) -> str:
    """Its σ² in words: "σ² learned" or "σ² fixed"."""
    return "σ² learned" if config.learn_sigma else "σ² fixed"


def network_words(
    config: NetworkConfig, told: bool = False, label: int | None = None, source: str = ""
) -> str:
    """The network behind p_θ, for a status line: who it is, in words a student understands, then
    what it predicts and its σ² (``told``: it was given the digit's class, ``label`` if known, and
    ``source``, where that class came from: "its label", "the classifier's reading of x₀").

    >>> from ddpm.unet import UNetConfig
    >>> network_words(UNetConfig(parameterization="eps"))
    'the network that was not told the digit (it predicts ε, σ² fixed)'
    """
    if told:
        who = "the class-conditional network, told the digit's class" + (
            "" if label is None else f" y = {label}"
        )
        who += f", {source}" if source else ""
    elif config.num_classes:
        who = "the class-conditional network, not told the digit (its null label ∅)"
    else:
        who = "the network that was not told the digit"
    return f"{who} (it predicts {symbol(config)}, {variance_words(config)})"


def loss_words(config: NetworkConfig) -> str:
    """The loss the network was trained with, named as such (Ho et al. 2020's L_simple for ε;
    the same squared error on its own target otherwise; plus the bound's terms for a learned σ²,
    Nichol & Dhariwal 2021's L_hybrid)."""
    target, hat = symbol(config), HATS[config.parameterization]
    simple = f"L_simple = E‖{target} − {hat}‖²" + (" (Ho et al. 2020, Algorithm 1)" if target == "ε" else "")
    return simple + (" plus λ·L_vlb for its σ² (L_hybrid)" if config.learn_sigma else "")


def a_digit(digit: int) -> str:
    """ "a 7", "an 8": a digit with its article, as a sentence names it."""
    return f"{'an' if int(digit) == 8 else 'a'} {int(digit)}"
