"""ddpm.metrics: the Fréchet distance against closed forms, the judge's reports and floors, x̂_0 errors."""

import pytest
import torch

from ddpm import classifier
from ddpm.data import to_model_range
from ddpm.metrics import frechet_distance, report


def with_moments(n, mean, scale, seed):
    """n points whose sample mean is exactly ``mean`` and sample covariance exactly diag(scale²)."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # whiten: cov(z) = I
    return z * torch.tensor(scale, dtype=torch.float64) + torch.tensor(mean, dtype=torch.float64)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    a = with_moments(500, [0.0, 1.0, 2.0], [1.0, 2.0, 0.5], 0)
    b = with_moments(700, [1.0, 1.0, 0.0], [3.0, 2.0, 1.5], 1)
    # commuting covariances: ‖μa − μb‖² + Σ (σa − σb)²
    expected = (1 + 0 + 4) + (4 + 0 + 1)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_rotation_invariant():
    a = with_moments(400, [0.0, 0.0], [1.0, 3.0], 2)
    b = with_moments(400, [0.5, 0.0], [2.0, 2.0], 3)
    q, _ = torch.linalg.qr(torch.randn(2, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64))
    assert frechet_distance(a @ q, b @ q) == pytest.approx(frechet_distance(a, b), rel=1e-6)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        frechet_distance(torch.zeros(3, 2), torch.zeros(3, 4))


@pytest.fixture(scope="module")
def judge():
    return classifier.load()


def test_bundled_classifier_accuracy(judge, mnist_test_digits):
    images, labels = mnist_test_digits
    x = to_model_range(images[:2000]).unsqueeze(1)
    assert classifier.accuracy(judge, x, labels[:2000]) >= 0.98


@pytest.mark.slow
def test_real_digits_score_a_small_frechet_distance_and_noise_a_large_one(judge, mnist_test_digits):
    images, _ = mnist_test_digits
    reference, _ = classifier.predict(judge, to_model_range(images[5000:]).unsqueeze(1))
    real = report(images[:1000], judge, reference)
    noise = report(torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8), judge, reference)
    blurred = report(images[:1000].float().div(2).to(torch.uint8), judge, reference)  # faded digits
    assert real.frechet_distance < 0.1 * noise.frechet_distance
    assert real.frechet_distance < blurred.frechet_distance
    assert real.mean_confidence > 0.97
    assert all(0.07 < f < 0.14 for f in real.class_fractions)
    assert sum(real.class_fractions) == pytest.approx(1.0)


@pytest.mark.slow
def test_the_conditional_report_reads_the_digits_asked_for(judge, mnist_test_digits):
    from ddpm.metrics import conditional_report

    images, labels = mnist_test_digits
    x = to_model_range(images).unsqueeze(1)
    test, train = (classifier.predict(judge, x[5000:])[0], labels[5000:]), (x[:4000], labels[:4000])
    asked = labels[4000:4400]  # real digits "asked for" their own labels: the judge agrees
    honest = conditional_report(
        images[4000:4400], asked, judge, test, train, torch.Generator().manual_seed(0)
    )
    assert [c.label for c in honest] == list(range(10)) and sum(c.n for c in honest) == 400
    assert all(c.agreement > 0.9 for c in honest)
    assert all(c.frechet_distance < 3 * c.floor for c in honest)  # real digits sit near the floor
    shifted = conditional_report(images[4000:4400], (asked + 1) % 10, judge, test, train)
    assert all(c.agreement < 0.1 for c in shifted)  # a 3 asked to be a 4 is not read as a 4
    assert all(s.frechet_distance > 3 * h.frechet_distance for s, h in zip(shifted, honest, strict=True))


def test_class_balanced_floor_takes_the_samples_class_counts():
    from ddpm.metrics import balanced_real, class_counts

    assert class_counts(23, None) == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert class_counts(5, torch.tensor([1, 1, 4, 9, 9])) == [0, 2, 0, 0, 1, 0, 0, 0, 0, 2]
    labels = torch.arange(100) % 10
    images = labels.float().reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2)  # each image shows its class
    real = balanced_real((images, labels), [0, 2, 0, 0, 1, 0, 0, 0, 0, 3], torch.Generator().manual_seed(0))
    assert real[:, 0, 0, 0].tolist() == [1, 1, 4, 9, 9, 9]
    with pytest.raises(ValueError, match="11 real digits of class 0"):
        balanced_real((images, labels), [11] + [0] * 9)


def test_x0_errors_are_paired_and_read_each_parameterization():
    """The exact denoiser of a one-digit data set has no x̂_0 error, written as ε or as v; a model
    that predicts nothing (ε̂ = 0) has the error x̂_0 = x_t / √ᾱ_t implies; draws are shared."""
    from oracles import PointDataEps, zero_model

    from ddpm import GaussianDiffusion
    from ddpm.metrics import x0_errors

    diffusion = GaussianDiffusion.from_schedule("linear", 100)
    point = torch.rand(1, 1, 8, 8) * 2 - 1
    exact = PointDataEps(diffusion.alphas_cumprod, point)

    class Named:  # a callable with the config the evaluator reads
        def __init__(self, fn, parameterization):
            self.fn, self.config = fn, type("C", (), {"parameterization": parameterization, "num_classes": 0})

        def __call__(self, x, t):
            return self.fn(x, t)

    def as_v(x, t):
        x0, eps = diffusion.predictions(exact(x, t), x, t, "eps", clip_denoised=False)
        return diffusion.predict_v(x0, eps, t)

    x0 = point.expand(40, -1, -1, -1)
    models = [Named(exact, "eps"), Named(as_v, "v"), Named(zero_model, "eps")]
    errors, t = x0_errors(models, diffusion, x0, torch.Generator().manual_seed(0), batch_size=16)
    assert errors.shape == (3, 40) and t.shape == (40,)
    assert errors[:2].max() < 1e-8
    again, t2 = x0_errors(models[2:], diffusion, x0, torch.Generator().manual_seed(0))
    assert torch.equal(t, t2) and torch.equal(again[0], errors[2])
    # the documented draws: t, then ε, from the generator; x̂_0 = x_t / √ᾱ_t clipped to [−1, 1]
    g = torch.Generator().manual_seed(0)
    t3 = torch.randint(0, 100, (40,), generator=g)
    x_t = diffusion.q_sample(x0, t3, torch.randn(x0.shape, generator=g))
    a = diffusion.alphas_cumprod[t3].reshape(-1, 1, 1, 1)
    expected = ((x_t / a.sqrt()).clamp(-1, 1) - x0).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(errors[2], expected)
