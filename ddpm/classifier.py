"""The project's own MNIST digit classifier, used to judge generated digits.

A small CNN trained on the MNIST training split (``python -m ddpm.classifier``). Its penultimate
layer (128 features) is the feature space of the Fréchet distance in :mod:`ddpm.evaluate`, its
softmax gives class histograms and confidences. Inputs are digits in model range: float
[B, 1, 28, 28] in [−1, 1], −1 = background.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint
from .data import load_mnist_tensor

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
    _, probs = predict(classifier, images)
    return (probs.argmax(1) == labels).float().mean().item()


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    max_shift: int = 2,
) -> DigitClassifier:
    """Adam on cross-entropy, with random shifts of up to ``max_shift`` pixels for robustness."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DigitClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(images) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for i in range(len(images) // batch_size):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = images[idx]
            if max_shift:
                dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
                x = torch.roll(F.pad(x, [max_shift] * 4, value=-1.0), (dy, dx), dims=(2, 3))
                x = x[:, :, max_shift:-max_shift, max_shift:-max_shift]
            loss = F.cross_entropy(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


def save(directory: str | Path, model: DigitClassifier, extra: dict) -> Path:
    return checkpoint.save_weights(directory, model, {"model": "DigitClassifier", "extra": extra})


def load(path: str | Path = BUNDLED, device: torch.device | str = "cpu") -> DigitClassifier:
    """The classifier saved in ``path`` (default: the bundled one), in eval mode, sha256-checked."""
    state, _ = checkpoint.load_weights(path)
    model = DigitClassifier()
    model.load_state_dict(state)
    return model.eval().to(device)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm.classifier", description="Train the digit classifier.")
    p.add_argument("--data-root", default=None, help="MNIST root (default: $DDPM_DATA or ./data)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the 60,000 training digits")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, order and shifts")
    p.add_argument("--out", default=str(BUNDLED), help="output folder")
    args = p.parse_args(argv)
    start = time.time()
    train_x, train_y = load_mnist_tensor(args.data_root, train=True)
    test_x, test_y = load_mnist_tensor(args.data_root, train=False)
    model = train_classifier(train_x, train_y, epochs=args.epochs, seed=args.seed)
    acc = accuracy(model, test_x, test_y)
    minutes = (time.time() - start) / 60
    extra = {
        "test_accuracy": round(acc, 4),
        "epochs": args.epochs,
        "seed": args.seed,
        "train_minutes": round(minutes, 1),
    }
    save(args.out, model, extra)
    print(f"test accuracy {acc:.4f} after {args.epochs} epochs ({minutes:.1f} min); saved to {args.out}")


if __name__ == "__main__":
    main()
