"""The targets teachers give (ddpm.distillation), against closed forms.

The oracle is a data set of one image x_0: then x_t fixes ε exactly, ε = (x_t − √ᾱ_t x_0)/√(1 − ᾱ_t),
so a teacher that knows the data predicts each pair's own ε, x_0 and v, and the target it teaches
must be the plain target whatever the two parameterizations. ᾱ_t is recomputed here in float64
from the β schedule, apart from the tables the library uses.
"""

import pytest
import torch

from ddpm import GaussianDiffusion
from ddpm.distillation import regression_target, teacher_target
from ddpm.schedules import make_betas

T = 50
PARAMETERIZATIONS = ("eps", "x0", "v")


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


def alphas_cumprod(t: torch.Tensor) -> torch.Tensor:
    """ᾱ_t [B, 1, 1, 1] in float64, from the β table."""
    return torch.cumprod(1.0 - make_betas("linear", T), 0)[t].reshape(-1, 1, 1, 1)


def plain(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, parameterization: str) -> torch.Tensor:
    """ε, x_0 or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho 2022) of the pair."""
    a = alphas_cumprod(t)
    return {"eps": noise, "x0": x0, "v": a.sqrt() * noise - (1 - a).sqrt() * x0}[parameterization]


def one_image_batch(seed: int = 0, dtype: torch.dtype = torch.float64):
    """Every row the same data image x_0 [1, 4, 4] in [−1, 1], with its own ε and t: t covers 0 … T − 1."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand((1, 1, 4, 4), generator=g, dtype=dtype) * 2 - 1
    t = torch.arange(T)
    x0 = image.expand(T, -1, -1, -1).clone()
    noise = torch.randn(x0.shape, generator=g, dtype=dtype)
    return image, x0, t, noise


class Recorder:
    """A teacher that returns ``answer(x_t, t, y)`` and keeps what it was called with."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def __call__(self, x_t, t, y=None):
        self.calls.append((x_t.clone(), t.clone(), None if y is None else y.clone()))
        return self.answer(x_t, t, y)


def knows_the_data(image: torch.Tensor, parameterization: str) -> Recorder:
    """The ideal network for the one-image data set: E[ε | x_t], x_0 or E[v | x_t], exactly."""

    def answer(x_t, t, y):
        a = alphas_cumprod(t)
        x0 = image.expand_as(x_t)
        noise = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        return plain(x0, noise, t, parameterization)

    return Recorder(answer)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_without_teachers_the_target_is_eps_x0_or_v_of_the_pair(diffusion, parameterization):
    _, x0, t, noise = one_image_batch()
    kept = (x0.clone(), noise.clone())
    for got in (
        teacher_target(diffusion, x0, t, noise, parameterization),
        regression_target(diffusion, x0, noise, t, parameterization),
    ):
        torch.testing.assert_close(got, plain(x0, noise, t, parameterization))
        got.add_(1.0)  # a new tensor: writing to it changes neither input
        assert torch.equal(x0, kept[0]) and torch.equal(noise, kept[1])


@pytest.mark.parametrize("teacher_parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_a_teacher_that_knows_the_data_teaches_the_plain_target(
    diffusion, parameterization, teacher_parameterization
):
    image, x0, t, noise = one_image_batch()
    teacher = knows_the_data(image, teacher_parameterization)
    got = teacher_target(
        diffusion, x0, t, noise, parameterization,
        low_teacher=teacher, low_parameterization=teacher_parameterization, low_below=T,
    )  # fmt: skip
    assert len(teacher.calls) == 1 and torch.equal(teacher.calls[0][1], t)  # it taught every row
    # float32 tables: x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t multiplies their rounding by up to 1/√ᾱ_T ≈ 360
    torch.testing.assert_close(got, plain(x0, noise, t, parameterization), atol=2e-3, rtol=1e-4)


def test_a_teacher_that_is_wrong_moves_the_target():
    """The oracle above is not vacuous: a teacher of another data image teaches other targets."""
    diffusion = GaussianDiffusion.from_schedule("linear", T)
    image, x0, t, noise = one_image_batch()
    for parameterization in PARAMETERIZATIONS:
        wrong = knows_the_data(-image, "eps")
        got = teacher_target(diffusion, x0, t, noise, parameterization, low_teacher=wrong, low_below=T)
        assert (got - plain(x0, noise, t, parameterization)).abs().max() > 0.1


@pytest.mark.parametrize("low_below", [0, 1, 20, T])
def test_the_low_noise_teacher_teaches_exactly_the_rows_below_the_threshold(diffusion, low_below):
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    teacher = Recorder(lambda x_t, t, y: torch.full_like(x_t, 7.0))
    got = teacher_target(diffusion, x0, t, noise, "eps", low_teacher=teacher, low_below=low_below)
    low = t < low_below
    assert torch.equal(got[low], torch.full_like(got[low], 7.0))
    assert torch.equal(got[~low], noise[~low])
    if not low.any():
        assert teacher.calls == []
        return
    (x_t, t_seen, y), *more = teacher.calls
    assert not more and y is None
    assert torch.equal(t_seen, t[low])
    a = alphas_cumprod(t[low]).float()
    torch.testing.assert_close(x_t, a.sqrt() * x0[low] + (1 - a).sqrt() * noise[low])  # eq. 4


def test_a_learned_variance_teacher_teaches_with_its_prediction_channels(diffusion):
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    teacher = Recorder(
        lambda x_t, t, y: torch.cat([torch.full_like(x_t, 7.0), torch.full_like(x_t, 99.0)], 1)
    )
    got = teacher_target(diffusion, x0, t, noise, "eps", low_teacher=teacher, low_below=T)
    assert got.shape == x0.shape and torch.equal(got, torch.full_like(got, 7.0))


def test_the_null_teacher_teaches_the_null_rows_with_their_own_labels(diffusion):
    null = 10
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    g = torch.Generator().manual_seed(1)
    true_labels = torch.randint(0, 10, (T,), generator=g)
    labels = torch.where(torch.rand(T, generator=g) < 0.5, null, true_labels)

    def answer(x_t, t, y):  # a learned-variance network: the prediction, then the variance channels
        return torch.cat(
            [(y.float() + 100.0).reshape(-1, 1, 1, 1).expand_as(x_t), torch.full_like(x_t, 99.0)], 1
        )

    teacher = Recorder(answer)
    got = teacher_target(
        diffusion, x0, t, noise, "eps",
        null_teacher=teacher, labels=labels, true_labels=true_labels, null_label=null,
    )  # fmt: skip
    dropped = labels == null
    assert 0 < dropped.sum() < T
    want = torch.where(dropped.reshape(-1, 1, 1, 1), true_labels.float().reshape(-1, 1, 1, 1) + 100, noise)
    assert torch.equal(got, want)
    (x_t, t_seen, y_seen), *more = teacher.calls
    assert not more and torch.equal(t_seen, t[dropped]) and torch.equal(y_seen, true_labels[dropped])
    torch.testing.assert_close(x_t, diffusion.q_sample(x0, t, noise)[dropped])


def test_below_the_threshold_the_low_noise_teacher_teaches_the_null_rows_too(diffusion):
    null, low_below = 10, 20
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    true_labels = t % 10
    labels = torch.where(t % 2 == 0, null, true_labels)  # null rows on both sides of the threshold
    low_teacher = Recorder(lambda x_t, t, y: torch.full_like(x_t, 7.0))
    null_teacher = Recorder(lambda x_t, t, y: torch.full_like(x_t, -7.0))
    got = teacher_target(
        diffusion, x0, t, noise, "eps", low_teacher=low_teacher, low_below=low_below,
        null_teacher=null_teacher, labels=labels, true_labels=true_labels, null_label=null,
    )  # fmt: skip
    low, dropped = t < low_below, labels == null
    assert torch.equal(got[low], torch.full_like(got[low], 7.0))
    assert torch.equal(got[dropped & ~low], torch.full_like(got[dropped & ~low], -7.0))
    assert torch.equal(got[~dropped & ~low], noise[~dropped & ~low])
    assert torch.equal(null_teacher.calls[0][1], t[dropped & ~low])


def test_an_unconditional_student_asks_the_null_teacher_nothing(diffusion):
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    teacher = Recorder(lambda x_t, t, y: torch.full_like(x_t, 7.0))
    got = teacher_target(diffusion, x0, t, noise, "x0", null_teacher=teacher, labels=None, null_label=10)
    assert teacher.calls == [] and torch.equal(got, x0)


def test_teachers_outputs_take_the_targets_dtype_and_carry_no_gradient(diffusion):
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    net = torch.nn.Conv2d(1, 1, 1).to(torch.bfloat16)  # as under bfloat16 autocast
    got = teacher_target(
        diffusion, x0, t, noise, "v", low_teacher=lambda x_t, t: net(x_t.bfloat16()), low_below=T // 2
    )
    assert got.dtype == torch.float32 and got.shape == x0.shape and not got.requires_grad


def test_a_null_teacher_needs_the_null_label_and_the_true_labels(diffusion):
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    labels = torch.zeros(T, dtype=torch.long)
    with pytest.raises(ValueError, match="null_label"):
        teacher_target(diffusion, x0, t, noise, null_teacher=lambda x, t, y: x, labels=labels)


def test_an_unknown_parameterization_is_named(diffusion):
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    with pytest.raises(ValueError, match=r"'score'.*eps, x0, v"):
        teacher_target(diffusion, x0, t, noise, "score")


def test_a_teachers_clean_image_is_taken_as_it_is_not_clipped(diffusion):
    """The target is the teacher's estimate itself: clipping x̂_0 to [−1, 1] would bias its mean."""
    _, x0, t, noise = one_image_batch(dtype=torch.float32)
    teacher = Recorder(lambda x_t, t, y: torch.full_like(x_t, 3.0))
    got = teacher_target(
        diffusion, x0, t, noise, "x0", low_teacher=teacher, low_parameterization="x0", low_below=T
    )
    assert torch.equal(got, torch.full_like(got, 3.0))
