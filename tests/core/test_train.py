import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import TINY

from ddpm import DiffusionConfig, GaussianDiffusion, checkpoint
from ddpm.train import main, model_config, new_state, parse_args, set_up
from ddpm.training.state import Process
from ddpm.training.steps import batch_loss, batch_target, draw_batch, lr_at, new_epoch, training_step
from ddpm.unet import UNet, UNetConfig

REPO = Path(__file__).resolve().parents[2]


def test_a_few_steps_reduce_the_loss_on_a_tiny_batch():
    torch.manual_seed(0)
    diffusion = GaussianDiffusion.from_schedule("linear", 100)
    model = UNet(UNetConfig(**TINY, timesteps=100))
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand((8, 1, 28, 28), generator=g).round() * 2 - 1
    t = torch.randint(0, 100, (8,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = diffusion.training_losses(model, x0, t, noise).loss.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(1.0, abs=0.1)  # ε̂ = 0 at initialisation: E‖ε‖² = 1
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(("flag", "value", "low"), [("--save-every", "0", 1), ("--log-every", "-1", 1),
                                                    ("--sample-every", "-1", 0)])  # fmt: skip
def test_a_period_out_of_range_is_named(flag, value, low, capsys):
    with pytest.raises(SystemExit):
        parse_args([flag, value])
    assert f"{flag} must be ≥ {low}, got {value}" in capsys.readouterr().err


def test_lr_schedule():
    assert lr_at(0, 100, 1.0, 10, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10, 0.1) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, 10, 0.1) == pytest.approx(0.1)
    assert lr_at(55, 100, 1.0, 10, 0.1) == pytest.approx(0.55)  # halfway down the cosine


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=(rng.random((40, 28, 28)) > 0.7).astype(np.uint8) * 255)
    return path


def train_args(npz, out, steps, *extra):
    return [
        "--data-root", str(npz), "--out", str(out), "--steps", str(steps), "--batch-size", "4",
        "--channels", "8,16", "--timesteps", "50", "--warmup", "1", "--final-lr-ratio", "1.0",
        "--save-every", "3", "--sample-every", "0", "--log-every", "2", "--device", "cpu", *extra,
    ]  # fmt: skip


def weights_sha(out):
    return hashlib.sha256((Path(out) / "checkpoint" / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.slow
def test_train_cli_end_to_end_deterministic_and_resumable(npz, tmp_path):
    main(train_args(npz, tmp_path / "a", 6, "--sample-every", "4"))  # a grid at step 4 and at the end
    model, diffusion = checkpoint.load(tmp_path / "a" / "checkpoint")
    assert model.config.channels == (8, 16) and diffusion.num_timesteps == 50
    config = json.loads((tmp_path / "a" / "checkpoint" / "config.json").read_text())
    assert config["extra"]["steps"] == 6
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4, 6] and all(r["loss"] > 0 for r in log)
    assert sorted(p.name for p in (tmp_path / "a").glob("samples_*.png")) == [
        "samples_000004.png", "samples_000006.png"
    ]  # fmt: skip
    # same seed, same weights (the grids, from the averaged weights, change nothing)
    main(train_args(npz, tmp_path / "b", 6))
    assert weights_sha(tmp_path / "a") == weights_sha(tmp_path / "b")
    assert not list((tmp_path / "b").glob("samples_*.png"))  # --sample-every 0: none
    # stopping after 3 steps and resuming gives exactly the uninterrupted run
    main(train_args(npz, tmp_path / "c", 3))
    main(train_args(npz, tmp_path / "c", 6, "--resume"))
    assert weights_sha(tmp_path / "a") == weights_sha(tmp_path / "c")
    # another seed, other weights
    main(train_args(npz, tmp_path / "d", 6, "--seed", "1"))
    assert weights_sha(tmp_path / "a") != weights_sha(tmp_path / "d")


@pytest.mark.slow
def test_distributed_training_with_torchrun_on_cpu(npz, tmp_path):
    """Two processes, gloo backend, DistributedDataParallel: runs and exports a checkpoint."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ddpm.train", *train_args(npz, tmp_path / "ddp", 4)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "world size 2" in result.stdout
    model, _ = checkpoint.load(tmp_path / "ddp" / "checkpoint")
    assert model.config.channels == (8, 16)


def test_init_from_a_checkpoint_starts_from_its_weights(npz, tmp_path):
    main(train_args(npz, tmp_path / "a", 3))
    main(train_args(npz, tmp_path / "b", 1, "--init-from", str(tmp_path / "a" / "checkpoint"), "--lr", "0"))
    a, _ = checkpoint.load(tmp_path / "a" / "checkpoint")
    b, _ = checkpoint.load(tmp_path / "b" / "checkpoint")
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(wb, wa, msg=name)  # lr 0: one step changes nothing


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("labelled") / "tiny.npz"
    rng = np.random.default_rng(1)
    images = (rng.random((40, 28, 28)) > 0.7).astype(np.uint8) * 255
    np.savez(path, x_train=images, y_train=rng.integers(0, 10, 40))
    return path


def test_a_conditional_learned_variance_run_is_deterministic_resumable_and_loads(labelled_npz, npz, tmp_path):
    extra = (
        "--num-classes",
        "10",
        "--learn-sigma",
        "--t-sampling",
        "high-noise",
        "--parameterization",
        "v",
        "--ema-decay-2",
        "0.2",
    )  # fmt: skip (short enough to differ from the warm-up)
    main(train_args(labelled_npz, tmp_path / "a", 6, *extra))
    model, _ = checkpoint.load(tmp_path / "a" / "checkpoint")
    assert model.config.num_classes == 10 and model.config.variance == "learned_range"
    assert model.config.parameterization == "v"
    main(train_args(labelled_npz, tmp_path / "b", 3, *extra))
    main(train_args(labelled_npz, tmp_path / "b", 6, *extra, "--resume"))
    assert weights_sha(tmp_path / "a") == weights_sha(tmp_path / "b")
    # the second average is exported beside the first, and resumes exactly too
    second = [(tmp_path / run / "checkpoint-ema2" / "model.safetensors").read_bytes() for run in "ab"]
    assert second[0] == second[1]
    assert second[0] != (tmp_path / "a" / "checkpoint" / "model.safetensors").read_bytes()
    # labels are dropped to the null label: without dropout its embedding never trains
    main(train_args(labelled_npz, tmp_path / "c", 6, *extra, "--label-dropout", "0"))
    c, _ = checkpoint.load(tmp_path / "c" / "checkpoint")
    torch.manual_seed(0)  # the run's seed: the same initial weights
    initial = UNet(c.config).label_emb.weight[10].detach()
    assert torch.equal(c.label_emb.weight[10], initial)
    assert not torch.equal(model.label_emb.weight[10], initial)
    with pytest.raises(SystemExit, match="y_train"):
        main(train_args(npz, tmp_path / "d", 2, "--num-classes", "10"))


def test_bf16_autocast_training_on_cpu_follows_the_float32_loss(npz, tmp_path):
    logs = {}
    for name, extra in (("fp32", ()), ("bf16", ("--bf16",))):
        main(train_args(npz, tmp_path / name, 6, *extra))
        logs[name] = [
            json.loads(line)["loss"] for line in (tmp_path / name / "log.jsonl").read_text().splitlines()
        ]
    assert logs["bf16"] != logs["fp32"]  # autocast did run
    np.testing.assert_allclose(logs["bf16"], logs["fp32"], rtol=0.05)


@pytest.mark.slow
def test_a_signal_saves_the_state_and_resume_continues_from_that_step(npz, tmp_path):
    """SIGTERM (a paused background run) stops after the current step with its state saved."""
    import signal
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ddpm.train", *train_args(npz, out, 100_000, "--save-every", "100000")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "log.jsonl").exists():  # the loop is running
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()[-3000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]
    stopped = torch.load(out / "train_state.pt", weights_only=False)["step"]
    assert 0 < stopped < 100_000 and f"stopping on a signal at step {stopped}" in output
    logged = len((out / "log.jsonl").read_text().splitlines())
    main(train_args(npz, out, stopped + 4, "--resume"))
    new = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()[logged:]]
    assert new and all(stopped < step <= stopped + 4 for step in new)  # continued from `stopped`


def set_up_run(npz, out, *extra):
    """The arguments, setup and step-0 state of a one-process CPU run, as ``train`` makes them."""
    args = parse_args(train_args(npz, out, 6, *extra))
    process = Process(torch.device("cpu"), rank=0, world=1, distributed=False)
    config = model_config(args)
    state = new_state(args, config, process)
    diffusion_config = DiffusionConfig(args.schedule, args.timesteps)
    setup = set_up(args, process, Path(out), config, diffusion_config, state.model)
    return args, setup, state


def test_a_batch_draws_its_images_t_noise_and_dropped_labels_in_a_fixed_order(labelled_npz, tmp_path):
    """The epoch's permutation, then per batch t, noise and the dropped labels, all from the run's
    generator: this order is what makes a resumed run repeat the uninterrupted one."""
    extra = ("--batch-size", "16", "--num-classes", "10", "--label-dropout", "0.5")
    args, setup, state = set_up_run(labelled_npz, tmp_path, *extra)
    new_epoch(state, len(setup.images))
    batches = [draw_batch(args, setup, state) for _ in range(3)]  # 40 images: 2 batches, then a new epoch
    g = torch.Generator().manual_seed(0)  # seed 0, rank 0
    order = torch.randperm(40, generator=g)
    some_dropped = []
    for i, batch in enumerate(batches):
        if i == 2:  # 8 images left, fewer than a batch
            order = torch.randperm(40, generator=g)
        index = order[16 * (i % 2) : 16 * (i % 2) + 16]
        assert torch.equal(batch.index, index) and torch.equal(batch.x0, setup.images[index])
        assert torch.equal(batch.t, torch.randint(0, 50, (16,), generator=g))
        assert torch.equal(batch.noise, torch.randn((16, 1, 28, 28), generator=g))
        dropped = torch.rand(16, generator=g) < 0.5
        assert torch.equal(batch.y, torch.where(dropped, 10, setup.labels[index]))  # 10: the null label
        some_dropped.append(0 < int(dropped.sum()) < 16)
    assert any(some_dropped)
    assert torch.equal(state.order, order) and state.cursor == 16


def test_the_teachers_teach_their_rows_of_a_batch_and_the_loss_regresses_on_them(labelled_npz, tmp_path):
    """``--low-noise-teacher`` (a v-model) teaches the rows with t < ``--low-noise-below``,
    ``--null-teacher`` the other dropped rows with the pair's own label from the data file; the rest
    keep ε. The target's maths is tested in tests/core/test_distillation.py; this is its wiring."""
    from tiny import tiny_checkpoint

    low_folder = tiny_checkpoint(tmp_path / "low", timesteps=50, parameterization="v")
    null_folder = tiny_checkpoint(tmp_path / "null", timesteps=50, num_classes=10)
    extra = ("--batch-size", "16", "--num-classes", "10", "--label-dropout", "0.5", "--low-noise-below", "25",
             "--low-noise-teacher", str(low_folder), "--null-teacher", str(null_folder))  # fmt: skip
    args, setup, state = set_up_run(labelled_npz, tmp_path / "run", *extra)
    new_epoch(state, len(setup.images))
    batch = draw_batch(args, setup, state)
    low_teacher, diffusion = checkpoint.load(low_folder)
    null_teacher, _ = checkpoint.load(null_folder)
    with np.load(labelled_npz) as data:
        own_labels = torch.from_numpy(data["y_train"]).long()[batch.index]
    x_t = diffusion.q_sample(batch.x0, batch.t, batch.noise)
    low = batch.t < 25
    null = (batch.y == 10) & ~low
    assert low.any() and (~low).any() and null.any() and (~low & ~null).any()
    want = batch.noise.clone()
    with torch.no_grad():
        v = low_teacher(x_t[low], batch.t[low])
        want[low] = diffusion.predict_noise_from_v(x_t[low], batch.t[low], v)  # ε̂ of the v-teacher
        want[null] = null_teacher(x_t[null], batch.t[null], own_labels[null])
    target = batch_target(args, setup, batch)
    torch.testing.assert_close(target, want, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        loss = batch_loss(args, setup, batch)
        prediction = setup.net(x_t, batch.t, batch.y)
    torch.testing.assert_close(loss, (prediction - want).pow(2).mean(), atol=1e-6, rtol=1e-5)
    no_teacher_args, no_teacher_setup, _ = set_up_run(labelled_npz, tmp_path / "plain", *extra[:8])
    assert batch_target(no_teacher_args, no_teacher_setup, batch) is None  # training_losses' own ε


def test_a_training_step_sets_the_lr_then_moves_the_averages_with_their_warmed_up_decay(npz, tmp_path):
    args, setup, state = set_up_run(npz, tmp_path, "--lr", "0.5", "--warmup", "4", "--ema-decay-2", "0.1")
    new_epoch(state, len(setup.images))
    before = {name: p.detach().clone() for name, p in state.model.named_parameters()}
    loss, lr = training_step(args, setup, state, draw_batch(args, setup, state))
    assert state.step == 1 and loss.ndim == 0 and loss > 0
    assert lr == 0.125 == state.optimizer.param_groups[0]["lr"]  # step 0 of a 4-step warm-up to 0.5
    assert any(not torch.equal(p, before[name]) for name, p in state.model.named_parameters())
    # after step 1 each average decays by min(its decay, (1 + 1) / (10 + 1))
    for key, decay in (("ema", 2 / 11), ("ema2", 0.1)):
        for name, p in state.model.named_parameters():
            average = dict(state.emas[key].named_parameters())[name]
            torch.testing.assert_close(average, before[name].lerp(p.detach(), 1 - decay), msg=f"{key} {name}")


def test_max_minutes_stops_with_the_state_saved_and_resume_continues_exactly(npz, tmp_path, capsys):
    main(train_args(npz, tmp_path / "a", 6))
    main(train_args(npz, tmp_path / "b", 6, "--max-minutes", "1e-9"))  # out of time at the first check
    assert "stopping after 1e-09 minutes at step 2; resume with --resume" in capsys.readouterr().out
    assert torch.load(tmp_path / "b" / "train_state.pt", weights_only=True)["step"] == 2
    log = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [2]
    main(train_args(npz, tmp_path / "b", 6, "--resume"))
    assert weights_sha(tmp_path / "a") == weights_sha(tmp_path / "b")
