"""The checkpoint that ships with the repository: it loads, and its digits are readable."""

import torch

from ddpm import checkpoint, classifier
from ddpm.data import to_model_range
from ddpm.inference import generate, prepare_for_inference


def test_bundled_checkpoint_generates_digits_the_classifier_is_sure_of():
    model, diffusion = checkpoint.load()
    assert model.config.parameterization == "eps" and diffusion.num_timesteps == 1000
    model = prepare_for_inference(model)
    images = generate(model, diffusion, 64, "ddim", 20, seed=0)  # 64: a mean over 32 varies by ±0.03
    assert images.dtype == torch.uint8 and images.shape == (64, 28, 28)
    # MNIST-like: mostly background, some bright ink
    assert 0.6 < (images < 32).float().mean() < 0.95 and (images > 200).any()
    _, probs = classifier.predict(classifier.load(), to_model_range(images).unsqueeze(1))
    confidence = probs.max(1).values
    assert confidence.mean() > 0.9
    assert len(set(probs.argmax(1).tolist())) >= 8  # not one digit over and over
