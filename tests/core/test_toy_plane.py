"""The 2-D world (ddpm.toy.plane, ddpm.toy.mlp): closed forms against finite differences, brute
force and Bayes' rule on a grid; samplers against the data by a two-sample statistic."""

import math

import numpy as np
import pytest
import torch

from ddpm.diffusion import GaussianDiffusion
from ddpm.toy import mlp, plane

DIFFUSION = GaussianDiffusion.from_schedule("linear", 1000)
MIXTURE = plane.Data2D(
    np.array([0.2, 0.5, 0.3]),
    np.array([[-1.0, 0.5], [0.8, 0.8], [0.3, -1.2]]),
    np.array([[[0.05, 0.02], [0.02, 0.1]], [[0.2, -0.05], [-0.05, 0.04]], [[0.01, 0.0], [0.0, 0.01]]]),
    "three",
)
POINTS = plane.Data2D.points(np.array([[-1.0, -1.0], [1.2, 0.3], [0.1, 1.5], [0.15, 1.45], [-0.5, 0.2]]))
X = np.array([[0.0, 0.0], [0.5, -0.3], [-1.2, 0.9], [2.0, 2.0], [0.12, 1.4]])


def gaussian_pdf(x, mean, cov):
    """N(x; mean, cov) with numpy's linear algebra, one point at a time (an independent implementation)."""
    d = x - mean
    return math.exp(-0.5 * d @ np.linalg.solve(cov, d)) / (2 * math.pi * math.sqrt(np.linalg.det(cov)))


@pytest.mark.parametrize("data", [MIXTURE, POINTS], ids=["mixture", "points"])
@pytest.mark.parametrize("alpha_bar", [0.99, 0.9, 0.5, 0.01])
def test_the_density_is_the_noised_mixture_and_the_weights_are_bayes_rule(data, alpha_bar):
    for x in X:
        joint = np.array([
            w * gaussian_pdf(x, math.sqrt(alpha_bar) * m, alpha_bar * s + (1 - alpha_bar) * np.eye(2))
            for w, m, s in zip(data.weights, data.means, data.covs, strict=True)
        ])  # fmt: skip
        np.testing.assert_allclose(np.exp(plane.log_density(data, alpha_bar, x)), joint.sum(), rtol=1e-10)
        np.testing.assert_allclose(
            plane.posterior_weights(data, alpha_bar, x), joint / joint.sum(), atol=1e-12
        )


@pytest.mark.parametrize("data", [MIXTURE, POINTS], ids=["mixture", "points"])
@pytest.mark.parametrize("alpha_bar", [0.99, 0.7, 0.2])
def test_the_score_is_the_gradient_of_the_log_density(data, alpha_bar):
    h = 1e-5
    for x in X:
        numeric = [
            (plane.log_density(data, alpha_bar, x + h * e) - plane.log_density(data, alpha_bar, x - h * e))
            / (2 * h)
            for e in np.eye(2)
        ]
        np.testing.assert_allclose(plane.score(data, alpha_bar, x), numeric, rtol=1e-5, atol=1e-6)


def test_eps_is_tweedies_formula_with_the_posterior_over_the_points():
    """ε̂* = (x − √ᾱ E[x_0 | x]) / √(1 − ᾱ), E[x_0 | x] = Σ r_i x^i for a point set."""
    for alpha_bar in (0.95, 0.3):
        r = plane.posterior_weights(POINTS, alpha_bar, X)
        expected_x0 = r @ POINTS.means
        tweedie = (X - math.sqrt(alpha_bar) * expected_x0) / math.sqrt(1 - alpha_bar)
        np.testing.assert_allclose(plane.eps(POINTS, alpha_bar, X), tweedie, atol=1e-12)


@pytest.mark.parametrize("data", [MIXTURE, POINTS], ids=["mixture", "points"])
def test_the_density_on_the_grid_integrates_to_one(data):
    n, extent = 400, 5.0
    grid = plane.density_grid(data, 0.6, n, extent)
    assert grid.sum() * (2 * extent / n) ** 2 == pytest.approx(1.0, abs=1e-6)
    # the top row is the top of the plane: the first row's centre is y = extent − ½ cell
    x, y = -extent + 0.5 * 2 * extent / n, extent - 0.5 * 2 * extent / n
    assert grid[0, 0] == pytest.approx(np.exp(plane.log_density(data, 0.6, np.array([x, y]))), rel=1e-12)


def bayes_on_a_grid(data, a_t, a_s, x_t, extent=4.0, n=801):
    """q(x_s | x_t) ∝ q(x_t | x_s) q_s(x_s), normalised numerically on an n × n grid."""
    u = np.linspace(-extent, extent, n)
    xs = np.stack(np.meshgrid(u, u, indexing="ij"), -1)
    a, b = math.sqrt(a_t / a_s), 1 - a_t / a_s
    likelihood = np.exp(-0.5 * ((x_t - a * xs) ** 2).sum(-1) / b) / (2 * math.pi * b)
    joint = likelihood * np.exp(plane.log_density(data, a_s, xs))
    cell = (u[1] - u[0]) ** 2
    return xs, joint / (joint.sum() * cell), cell


@pytest.mark.parametrize("data", [MIXTURE, POINTS], ids=["mixture", "points"])
@pytest.mark.parametrize("t, delta", [(300, 1), (300, 200), (900, 600), (50, 40)])
def test_the_true_reverse_step_is_bayes_rule_on_a_grid(data, t, delta):
    a_t, a_s = plane.alpha_bar_at(DIFFUSION, t), plane.alpha_bar_at(DIFFUSION, t - delta)
    x_t = np.array([0.3, 0.4]) * math.sqrt(a_t) + 0.2
    step = plane.reverse_step(data, a_t, a_s, x_t)
    xs, brute, cell = bayes_on_a_grid(data, a_t, a_s, x_t)
    closed = np.exp(step.log_density(xs))
    assert step.weights.sum() == pytest.approx(1.0)
    assert np.abs(closed - brute).sum() * cell < 2e-3  # total variation on the grid
    mean, cov = step.moments()
    np.testing.assert_allclose(mean, (brute[..., None] * xs).sum((0, 1)) * cell, atol=2e-3)
    d = xs - mean
    np.testing.assert_allclose(cov, np.einsum("ij,ija,ijb->ab", brute, d, d) * cell, atol=2e-3)


def test_a_step_back_to_the_data_lands_on_the_points_with_the_posterior_weights():
    a_t = plane.alpha_bar_at(DIFFUSION, 200)
    step = plane.reverse_step(POINTS, a_t, 1.0, X[1])
    np.testing.assert_allclose(step.weights, plane.posterior_weights(POINTS, a_t, X[1]), atol=1e-12)
    np.testing.assert_allclose(step.means, POINTS.means, atol=1e-12)
    assert np.abs(step.covs).max() < 1e-12


def gaussian_total_variation(data, t, delta, x_t):
    """∫ |q(x_s | x_t) − N(same mean, same covariance)| on a grid."""
    a_t, a_s = plane.alpha_bar_at(DIFFUSION, t), plane.alpha_bar_at(DIFFUSION, t - delta)
    step = plane.reverse_step(data, a_t, a_s, x_t)
    mean, cov = step.moments()
    xs, brute, cell = bayes_on_a_grid(data, a_t, a_s, x_t, extent=3.5, n=501)
    fit = np.exp(plane.ReverseStep(np.ones(1), mean[None], cov[None]).log_density(xs))
    return np.abs(brute - fit).sum() * cell


def test_small_steps_are_gaussian_and_large_ones_are_not():
    """The 2-D form of "why small steps matter" (Sohl-Dickstein et al. 2015; Ho et al. 2020, §2)."""
    data = plane.preset("circle")
    x_t = np.array([0.2, -0.1])
    small = gaussian_total_variation(data, 300, 1, x_t)
    large = gaussian_total_variation(data, 300, 200, x_t)
    assert small < 0.01 and large > 0.5, (small, large)


def calibrated_threshold(data, n, seed=100, draws=20):
    """Where two samples of n draws of the data itself stay: the mean of their (unbiased) MMD
    plus five standard deviations, over ``draws`` pairs."""
    g = torch.Generator().manual_seed(seed)
    null = [plane.mmd(data.sample(n, g), data.sample(n, g)) for _ in range(draws)]
    return float(np.mean(null) + 5 * np.std(null))


@pytest.mark.parametrize(
    "name, sampler, steps, eta",
    [("circle", "ancestral", None, 0.0), ("circle", "ddim", 50, 0.0), ("moons", "ddim", 50, 0.0),
     ("spiral", "ddim", 50, 0.5), pytest.param("checkerboard", "ddim", 200, 1.0, marks=pytest.mark.slow)],
)  # fmt: skip
def test_the_exact_field_maps_noise_onto_the_data(name, sampler, steps, eta):
    data, n = plane.preset(name), 400
    other = plane.preset(plane.PRESETS[(plane.PRESETS.index(name) + 1) % len(plane.PRESETS)])
    threshold = calibrated_threshold(data, n)
    g = torch.Generator().manual_seed(7)
    x_T = torch.randn(n, 2, generator=g, dtype=torch.float64)
    reference = data.sample(n, g)

    def generated(source):
        field = plane.exact_field(source, DIFFUSION)
        *_, last = plane.sample(
            field, DIFFUSION, x_T, sampler, steps, eta, generator=torch.Generator().manual_seed(8)
        )
        return last.x_prev.numpy()

    assert plane.mmd(generated(data), reference) < threshold
    # the statistic tells the data from noise and (cheaper on DDIM's fewer steps) from another data
    # set's particles
    assert plane.mmd(x_T.numpy(), reference) > threshold
    if sampler == "ddim":
        assert plane.mmd(generated(other), reference) > 3 * threshold


def test_the_ode_is_deterministic_and_the_sde_is_not():
    data, field = plane.preset("moons"), plane.exact_field(plane.preset("moons"), DIFFUSION)
    x_T = torch.full((2, 2), 0.3, dtype=torch.float64)
    *_, ode = plane.sample(field, DIFFUSION, x_T, "ddim", 20, 0.0, generator=torch.Generator().manual_seed(0))
    *_, sde = plane.sample(field, DIFFUSION, x_T, "ddim", 20, 1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ode.x_prev[0], ode.x_prev[1]) and not torch.equal(sde.x_prev[0], sde.x_prev[1])
    # the ODE's end is (nearly) a data point: the exact field of a point set memorises
    assert np.min(np.linalg.norm(data.means - ode.x_prev[0].numpy(), axis=1)) < 0.01


@pytest.mark.parametrize("name", plane.PRESETS)
def test_each_shipped_network_generates_its_data(name):
    data, n = plane.preset(name), 400
    model = mlp.shipped(name)
    g = torch.Generator().manual_seed(3)
    x_T = torch.randn(n, 2, generator=g, dtype=torch.float64)
    *_, last = plane.sample(model, DIFFUSION, x_T, "ddim", 100)
    reference = data.sample(n, g)
    assert plane.mmd(last.x_prev.numpy(), reference) < calibrated_threshold(data, n)
    # where the data have spread out the learned field is the exact one; at t = 1 the exact field
    # of a point set points at its nearest point (it memorises) and a smooth network does not
    times = np.array(mlp.ERROR_TIMES)
    errors = mlp.field_error(model, data, DIFFUSION, list(times))
    assert errors[times >= 100].max() < 0.05 and errors[0] > errors[times >= 100].max()
    # the curve the page shows is stored with the network: it is this one
    np.testing.assert_allclose(mlp.shipped_error(name), errors, rtol=1e-4, atol=1e-7)


def test_training_lowers_the_loss_and_a_seed_repeats_it(tmp_path):
    data = plane.preset("circle")
    first = mlp.train(data, DIFFUSION, steps=200, seed=5, log_every=50)
    second = mlp.train(data, DIFFUSION, steps=200, seed=5, log_every=50)
    assert first.losses[-1] < 0.8 * first.losses[0]
    assert len(first.losses) == 4 and first.step == 200 and first.done
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    mlp.save(first.model, tmp_path / "m.safetensors", data="circle")
    loaded = mlp.load(tmp_path / "m.safetensors")
    x, t = torch.randn(8, 2), torch.arange(8) * 100
    assert torch.equal(loaded(x, t), first.model(x, t))


def test_the_network_embeds_time_as_the_unet_does():
    from ddpm.unet import timestep_embedding

    model = mlp.ToyMLP(mlp.ToyMLPConfig(hidden=4, layers=1, time_dim=6))
    x, t = torch.tensor([[0.5, -0.25]]), torch.tensor([123])
    h = torch.cat([x, timestep_embedding(t, 6, 1000)], 1)
    by_hand = model.out(torch.nn.functional.silu(model.hidden[0](h)))
    assert torch.equal(model(x, t), by_hand)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: plane.Data2D.points(np.zeros((1, 2))), "2 ≤ N"),
        (lambda: plane.Data2D.points(np.full((3, 2), 3.5)), "inside"),
        (lambda: plane.Data2D.points(np.array([[0.0, np.nan], [1, 1]])), "finite"),
        (lambda: plane.Data2D(np.ones(1), np.zeros((1, 2)), -np.eye(2)[None]), "semi-definite"),
        (lambda: plane.Data2D(np.array([1.0, -1.0]), np.zeros((2, 2)), np.zeros((2, 2, 2))), "positive"),
        (lambda: plane.preset("swiss roll"), "swiss roll"),
        (lambda: plane.reverse_step(MIXTURE, 0.5, 0.4, np.zeros(2)), "ᾱ_s > ᾱ_t"),
        (lambda: plane.alpha_bar_at(DIFFUSION, 1001), "1001"),
        (lambda: plane.log_density(MIXTURE, 1.5, np.zeros(2)), "1.5"),
    ],
)
def test_bad_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_presets_are_fixed_and_inside_the_plane():
    for name in plane.PRESETS:
        a, b = plane.preset(name), plane.preset(name)
        assert np.array_equal(a.means, b.means) and (np.abs(a.means) < plane.EXTENT).all()
        assert a.size == (8 if name == "circle" else plane.PRESET_POINTS)


def test_the_cli_trains_on_points_from_a_file_and_reports_the_fit(tmp_path, capsys):
    from safetensors import safe_open

    from ddpm import train_toy

    points = tmp_path / "ring.npy"
    angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    np.save(points, 1.5 * np.stack([np.cos(angle), np.sin(angle)], 1))
    out = tmp_path / "ring.safetensors"
    train_toy.main(["--data", str(points), "--steps", "60", "--out", str(out)])
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["data"] == "ring" and meta["steps"] == "60"
    assert float(meta["mmd_exact"]) < float(meta["mmd_learned"])  # 60 steps are not enough to learn it
    assert mlp.load(out).config == mlp.ToyMLPConfig()
    assert "ring: 60 steps" in capsys.readouterr().out
