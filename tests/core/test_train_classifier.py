"""The digit classifier's training tool, ``python -m ddpm.train_classifier``, on the bundled digits."""

import json

import pytest
import torch

from ddpm import classifier, train_classifier
from ddpm.data import MNISTSplit, bundled_digits, to_model_range


@pytest.fixture(scope="module")
def digits() -> MNISTSplit:
    """The 100 bundled digits as float [100, 1, 28, 28] in [−1, 1] and their labels [100]."""
    images, labels = bundled_digits()
    return MNISTSplit(to_model_range(images).unsqueeze(1), labels)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def test_training_fits_the_digits_and_repeats_with_its_seed(digits):
    x, y = digits
    model = train_classifier.train_classifier(x, y, epochs=10, batch_size=20, lr=3e-3)
    assert classifier.accuracy(model, x, y) >= 0.6  # chance is 0.1
    first, again, other = (train_classifier.train_classifier(x, y, 1, 20, seed=s) for s in (0, 0, 1))
    assert same_weights(first, again) and not same_weights(first, other)


def test_the_command_line_trains_tests_and_saves_a_loadable_classifier(digits, tmp_path, monkeypatch, capsys):
    x, y = digits
    training = MNISTSplit(x.repeat(3, 1, 1, 1), y.repeat(3))  # 300 digits: two batches of 128
    asked = []

    def fake_mnist(root, train):  # MNIST itself is not needed: training and test splits stand in
        asked.append((root, train))
        return training if train else digits

    monkeypatch.setattr(train_classifier, "load_mnist_tensor", fake_mnist)
    out = tmp_path / "judge"
    train_classifier.main(["--data-root", "somewhere", "--epochs", "1", "--seed", "3", "--out", str(out)])
    assert asked == [("somewhere", True), ("somewhere", False)]
    loaded = classifier.load(out)
    assert same_weights(loaded, train_classifier.train_classifier(*training, epochs=1, seed=3))
    extra = json.loads((out / "config.json").read_text())["extra"]
    assert extra["epochs"] == 1 and extra["seed"] == 3
    assert extra["test_accuracy"] == round(classifier.accuracy(loaded, *digits), 4)
    assert f"saved to {out}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        train_classifier.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m ddpm.train_classifier")
