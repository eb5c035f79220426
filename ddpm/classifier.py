"""The project's own MNIST digit classifier, used to judge generated digits.

A small CNN trained on the MNIST training split (``python -m ddpm.train_classifier``). Its
penultimate layer (128 features) is the feature space of the Fréchet distance in
:mod:`ddpm.evaluate`, its softmax gives class histograms and confidences. Inputs are digits in model
range: float [B, 1, 28, 28] in [−1, 1], −1 = background.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import checkpoint

BUNDLED = checkpoint.BUNDLED / "classifier"
FEATURES = 128


class DigitClassifier(nn.Module):
    """conv32-conv32-pool-conv64-conv64-pool-fc128-fc10; about 0.4M parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(),
        )  # fmt: skip
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 28, 28] in [−1, 1] -> [B, 128] penultimate activations (≥ 0)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 28, 28] in [−1, 1] -> class logits [B, 10]."""
        return self.head(self.dropout(self.features(x)))


@torch.no_grad()
def predict(
    classifier: DigitClassifier, images: torch.Tensor, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features [N, 128] and class probabilities [N, 10] of images [N, 1, 28, 28] in [−1, 1]."""
    classifier.eval()
    feats, probs = [], []
    device = next(classifier.parameters()).device
    for batch in images.split(batch_size):
        f = classifier.features(batch.to(device, torch.float32))
        feats.append(f.cpu())
        probs.append(torch.softmax(classifier.head(f), dim=1).cpu())
    return torch.cat(feats), torch.cat(probs)


def accuracy(classifier: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose most probable class is ``labels``."""
    return agreement(predict(classifier, images)[1], labels)


def agreement(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of the rows of class probabilities ``probs`` [N, 10] whose most probable class is
    ``labels`` [N] (or one class for all)."""
    return (probs.argmax(1) == labels).float().mean().item()


def save(directory: str | Path, model: DigitClassifier, extra: dict) -> Path:
    """Write ``model`` as a checkpoint folder (weights + config.json with ``extra``, e.g. its test
    accuracy), readable by :func:`load`; returns the folder."""
    return checkpoint.save_weights(directory, model, {"model": "DigitClassifier", "extra": extra})


def load(path: str | Path = BUNDLED, device: torch.device | str = "cpu") -> DigitClassifier:
    """The classifier saved in ``path`` (default: the bundled one), in eval mode, sha256-checked; on
    the CPU with channels-last weights (the same figures to float rounding, measured 2.1× faster on
    the 10,000 test digits and 1.2–1.7× at batch 1–16)."""
    state, _ = checkpoint.load_weights(path)
    model = DigitClassifier()
    model.load_state_dict(state)
    model = model.eval().to(device)
    if torch.device(device).type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model
