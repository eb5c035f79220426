"""Train the project's digit classifier on MNIST: ``python -m ddpm.train_classifier --help``.

The classifier itself (model, prediction, loading and saving) is :mod:`ddpm.classifier`; this tool
trains it from scratch and writes it, with its test accuracy, to ``--out`` (default: the bundled
``checkpoints/classifier/``).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from .classifier import BUNDLED, DigitClassifier, accuracy, save
from .data import load_mnist_tensor
from .seeding import generator as seeded_generator


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    max_shift: int = 2,
) -> DigitClassifier:
    """A new classifier trained on ``images`` float [N, 1, 28, 28] in [−1, 1] with class ``labels``
    int64 [N]: Adam on cross-entropy (one-cycle LR), in batches of a fresh permutation each epoch,
    each batch shifted at random by up to ``max_shift`` pixels for robustness. Returned in eval mode."""
    torch.manual_seed(seed)
    generator = seeded_generator(seed)
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


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    p = argparse.ArgumentParser(
        prog="python -m ddpm.train_classifier", description="Train the digit classifier."
    )
    p.add_argument("--data-root", default=None, help="MNIST root (default: $DDPM_DATA or ./data)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the 60,000 training digits")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, order and shifts")
    p.add_argument("--out", default=str(BUNDLED), help="output folder")
    return p


def main(argv: list[str] | None = None) -> None:
    """Train on the 60,000 MNIST training digits, measure the accuracy on the 10,000 test digits,
    and save the classifier with both in its config to ``--out``."""
    args = parser().parse_args(argv)
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
