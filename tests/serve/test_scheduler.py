"""The step scheduler: one forward pass per tick for every running chain, results that do not depend
on company, fairness, the rows cap and its line, Stop, and errors that stay with their chain."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ddpm import checkpoint
from ddpm.classifier import DigitClassifier, predict
from ddpm.guidance import Conditioned
from ddpm.inference import prepare_for_inference, sample_loop
from ddpm.sampling import final_sample
from ddpm.seeding import generator
from ddpm.serve.scheduler import Batched, Scheduler, Stopped
from ddpm.teaching.reverse import compare_reverse
from tests.tiny import tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]


class Recorder(torch.nn.Module):
    """A row-wise network that records the batch size of every call: out = x · (1 + t / 100) + y."""

    def __init__(self, gate: Callable[[torch.Tensor], None] | None = None) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.gate = gate

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.batches.append(x.shape[0])
        if self.gate is not None:
            self.gate(x)
        out = x * (1 + t.view(-1, 1, 1, 1) / 100)
        return out if y is None else out + y.view(-1, 1, 1, 1)


def chain(model, rows: int, steps: int, start: float = 1.0, log: list | None = None) -> torch.Tensor:
    """A toy chain: ``steps`` network calls on ``rows`` rows, each row its own t."""
    x = torch.full((rows, 1, 2, 2), start)
    for k in range(steps):
        x = model(x, torch.arange(rows) + k)
        if log is not None:
            log.append(k)
    return x


def held(scheduler: Scheduler) -> threading.Event:
    """Hold the compute thread in a task until the returned event is set, so that the tasks submitted
    meanwhile all arrive together, between the same two ticks."""
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(timeout=30)

    scheduler.submit(hold)
    assert holding.wait(timeout=30)
    return release


def test_every_running_chain_advances_one_step_per_tick_in_one_forward_pass():
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    model = Batched(net, scheduler)
    release = held(scheduler)
    sizes = (1, 4, 64)  # a single digit beside a 64-digit generation: neither starves the other
    futures = [scheduler.submit(chain, model, rows, 5) for rows in sizes]
    release.set()
    outputs = [future.result(timeout=30) for future in futures]
    assert net.batches == [sum(sizes)] * 5  # five ticks, one pass each over all 69 rows
    for rows, out in zip(sizes, outputs, strict=True):  # each chain gets its own rows back
        assert torch.equal(out, chain(net, rows, 5))
    assert scheduler.ticks == 5 and scheduler.forwards == 5 and scheduler.rows_run == 5 * 69


def test_chains_join_between_ticks_and_the_longer_one_continues_alone():
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    model = Batched(net, scheduler)
    release = held(scheduler)
    short, long = scheduler.submit(chain, model, 2, 3), scheduler.submit(chain, model, 3, 6)
    release.set()
    short.result(timeout=30), long.result(timeout=30)
    assert net.batches == [5, 5, 5, 3, 3, 3]


def test_the_rows_cap_holds_a_chain_in_line_and_tells_it_its_place():
    scheduler, net = Scheduler(max_rows=4), Recorder()
    model = Batched(net, scheduler)
    told: list[tuple[int, float]] = []
    release = held(scheduler)
    first = scheduler.submit(chain, model, 3, 3)
    second = scheduler.submit(
        chain, model, 2, 2, on_wait=lambda position, seconds: told.append((position, seconds))
    )
    big = scheduler.submit(chain, model, 10, 1)  # more than the cap: it runs once it is alone
    release.set()
    for future in (first, second, big):
        future.result(timeout=30)
    assert net.batches == [3, 3, 3, 2, 2, 10]  # 3 + 2 > 4: the second waits for the first
    assert told and told[0][0] == 1 and all(seconds >= 0 for _, seconds in told)


def test_stop_removes_a_chains_rows_at_the_next_tick_and_runs_its_cleanup():
    scheduler = Scheduler(max_rows=1000)
    stop, cleaned = threading.Event(), threading.Event()

    def gate(x: torch.Tensor) -> None:
        if len(net.batches) == 3:
            stop.set()  # Stop pressed while the third tick computes

    net = Recorder(gate)
    model = Batched(net, scheduler)

    def stoppable() -> torch.Tensor:
        try:
            return chain(model, 4, 100)
        finally:
            cleaned.set()

    release = held(scheduler)
    stopped = scheduler.submit(stoppable, stop=stop)
    other = scheduler.submit(chain, model, 1, 6)
    release.set()
    with pytest.raises(Stopped):
        stopped.result(timeout=30)
    other.result(timeout=30)
    assert cleaned.is_set()
    assert net.batches == [5, 5, 5, 1, 1, 1]  # from the fourth tick on, without its 4 rows


def test_a_stopped_chain_waiting_in_line_leaves_it():
    scheduler, net = Scheduler(max_rows=2), Recorder()
    model = Batched(net, scheduler)
    stop = threading.Event()
    stop.set()
    release = held(scheduler)
    running = scheduler.submit(chain, model, 2, 3)
    waiting = scheduler.submit(chain, model, 2, 3, stop=stop)
    release.set()
    running.result(timeout=30)
    with pytest.raises(Stopped):
        waiting.result(timeout=30)
    assert net.batches == [2, 2, 2]


def test_chains_and_their_read_outs_each_take_one_step_per_tick():
    """A chain whose step calls two networks (the UNet, then the classifier on x̂_0) gets both in the
    same tick: every network once per tick, each over all its requests."""
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    classifier = DigitClassifier().eval()
    model = Batched(net, scheduler)
    reader = Batched(classifier, scheduler, methods=("features",))
    calls: list[int] = []
    features = classifier.features
    classifier.features = lambda x: (calls.append(x.shape[0]), features(x))[1]

    def reading_chain(seed: int) -> list[torch.Tensor]:
        x = torch.randn(1, 1, 28, 28, generator=generator(seed))
        probabilities = []
        for k in range(4):
            x = model(x, torch.full((1,), k)).clamp(-1, 1)
            probabilities.append(predict(reader, x)[1])
        return probabilities

    release = held(scheduler)
    futures = [scheduler.submit(reading_chain, seed) for seed in range(3)]
    release.set()
    batched = [future.result(timeout=30) for future in futures]
    assert net.batches == [3] * 4 and calls == [3] * 4 and scheduler.ticks == 4
    for seed, probabilities in enumerate(batched):
        alone = reading_chain(seed)  # outside a task: the networks are called at once
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(alone, probabilities, strict=True))


def test_a_conditional_networks_calls_with_and_without_labels_share_one_pass():
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    net.config = type("Config", (), {"num_classes": 10})()
    model = Batched(net, scheduler)
    x, t = torch.ones(2, 1, 2, 2), torch.tensor([3, 4])
    release = held(scheduler)
    without = scheduler.submit(model, x, t)
    with_labels = scheduler.submit(model, x, t, torch.tensor([1, 2]))
    release.set()
    assert torch.equal(without.result(timeout=30), net(x, t, torch.full((2,), 10)))  # the null label
    assert torch.equal(with_labels.result(timeout=30), net(x, t, torch.tensor([1, 2])))
    assert net.batches[:1] == [4]


def test_a_failing_request_fails_its_own_chain_only():
    def gate(x: torch.Tensor) -> None:
        if bool((x < 0).any()):
            raise ValueError("a negative row")

    scheduler, net = Scheduler(max_rows=1000), Recorder(gate)
    model = Batched(net, scheduler)
    release = held(scheduler)
    bad = scheduler.submit(chain, model, 1, 3, start=-1.0)
    good = scheduler.submit(chain, model, 2, 3)
    release.set()
    with pytest.raises(ValueError, match="a negative row"):
        bad.result(timeout=30)
    assert torch.equal(good.result(timeout=30), chain(Recorder(), 2, 3))
    assert scheduler.submit(lambda: 7).result(timeout=30) == 7  # and the thread serves on


def test_each_task_keeps_its_own_grad_mode_across_ticks():
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    model = Batched(net, scheduler)

    def task(grad: bool) -> list[bool]:
        seen = []
        with torch.set_grad_enabled(grad):
            for k in range(3):
                model(torch.ones(1, 1, 2, 2), torch.tensor([k]))
                seen.append(torch.is_grad_enabled())
        return seen

    release = held(scheduler)
    futures = [scheduler.submit(task, grad) for grad in (False, True, False)]
    release.set()
    assert [f.result(timeout=30) for f in futures] == [[False] * 3, [True] * 3, [False] * 3]


def test_outside_a_task_a_batched_network_is_simply_called():
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    out = Batched(net, scheduler)(torch.ones(3, 1, 2, 2), torch.arange(3))
    assert out.shape == (3, 1, 2, 2) and net.batches == [3] and scheduler.thread is None


def test_rows_cap_must_be_positive():
    with pytest.raises(ValueError, match="max_rows must be ≥ 1, got 0"):
        Scheduler(max_rows=0)


# -- a chain gives the same images alone and in company ----------------------------------------------


def tiny_conditional(folder, timesteps: int):
    return checkpoint.load(tiny_checkpoint(folder, timesteps, num_classes=10, learn_sigma=True))


def room_of_chains(model, diffusion) -> list[Callable[[], torch.Tensor]]:
    """Eight chains of different kinds, sizes and t, each drawing its noise from its own generator."""
    cfg = model.config
    T = diffusion.num_timesteps
    x0 = torch.rand(1, 1, 28, 28, generator=generator(5)) * 2 - 1

    def sampler(n, name, steps, seed, labels=None, w=0.0):
        return lambda: final_sample(
            sample_loop(model, diffusion, n, name, steps, 0, generator(seed), labels=labels, guidance=w)
        )

    def compared(t, seed, labels=None):
        def run():
            *_, last = compare_reverse(
                diffusion, model, x0, t, seed, "learned_range", cfg.parameterization, labels
            )
            return torch.cat([last.exact.x_prev, last.learned.x_prev])

        return run

    def conditioned():  # DDIM with η = 0.5 for one digit, told its class
        return final_sample(
            sample_loop(Conditioned(model, torch.tensor([3])), diffusion, 1, "ddim", 25, 0.5, generator(9))
        )

    return [
        sampler(1, "ddpm", None, 1),  # a lone digit, all T steps
        sampler(16, "ddim", 50, 2),  # Generate's batch
        sampler(4, "dpm-solver", 20, 3, labels=torch.tensor([0, 1, 2, 3]), w=2.0),  # 2 rows per image
        compared(T // 2, 4),
        compared(T // 4, 6, labels=torch.tensor([7])),  # told the class: 3 rows per step
        compared(T // 10, 7),
        conditioned,
        sampler(2, "ddim", T // 10, 8, labels=torch.tensor([4, 5])),
    ]


@pytest.mark.parametrize(
    ("backend", "T"), [pytest.param("torchscript", 1000, marks=pytest.mark.slow), ("eager", 200)]
)
def test_a_chain_gives_the_same_images_alone_and_beside_seven_others(tmp_path, backend, T):
    """The app's backend over the paper's T = 1000 steps; eager on a shorter chain."""
    unet, diffusion = tiny_conditional(tmp_path, T)
    scheduler = Scheduler(max_rows=1000)
    model = Batched(prepare_for_inference(unet, "cpu", backend), scheduler)
    alone = [run() for run in room_of_chains(model, diffusion)]  # outside a task: each on its own
    release = held(scheduler)
    futures = [scheduler.submit(run) for run in room_of_chains(model, diffusion)]
    release.set()
    together = [future.result(timeout=300) for future in futures]
    # one pass per tick, and as many ticks as the longest chain has steps (T)
    assert scheduler.ticks == T and scheduler.forwards == scheduler.ticks
    for a, b in zip(alone, together, strict=True):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= 1e-4


def test_the_shipped_networks_per_step_outputs_do_not_depend_on_the_batch():
    """The real network, as the app runs it (traced and frozen): eight requests of different t,
    labels and sizes answered in one pass equal each answered alone, to float rounding."""
    unet, diffusion = checkpoint.load(checkpoint.DEFAULT)
    scheduler = Scheduler(max_rows=1000)
    model = Batched(prepare_for_inference(unet, "cpu", "torchscript"), scheduler)
    g = generator(0)
    requests = []
    for k, rows in enumerate((1, 16, 2, 3, 1, 8, 1, 4)):
        x = torch.randn(rows, 1, 28, 28, generator=g)
        t = torch.randint(0, diffusion.num_timesteps, (rows,), generator=g)
        y = torch.randint(0, 11, (rows,), generator=g) if k % 2 else None
        requests.append((x, t) if y is None else (x, t, y))
    alone = [model(*args) for args in requests]
    release = held(scheduler)
    futures = [scheduler.submit(model, *args) for args in requests]
    release.set()
    together = [future.result(timeout=60) for future in futures]
    assert scheduler.forwards == 1
    for a, b in zip(alone, together, strict=True):
        assert (a - b).abs().max() <= 1e-5


def test_a_process_that_ran_chains_exits_cleanly():
    """At exit every compute thread ends before the interpreter's finalization: one killed by it
    while holding greenlets aborted the process (exit 134), now and then."""
    script = textwrap.dedent("""
        import torch
        from ddpm.serve.scheduler import Batched, Scheduler
        for _ in range(3):  # three schedulers, three compute threads
            scheduler = Scheduler(max_rows=1000)
            model = Batched(torch.nn.Conv2d(1, 2, 3), scheduler)
            def chain(rows):
                for _ in range(5):
                    model(torch.zeros(rows, 1, 8, 8))
            for future in [scheduler.submit(chain, rows) for rows in (1, 2, 3, 4)]:
                future.result()
        print("ran")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr[-2000:]


def test_closing_stops_the_running_chains_and_ends_the_thread():
    scheduler, net = Scheduler(max_rows=1000), Recorder()
    model = Batched(net, scheduler)
    long = scheduler.submit(chain, model, 1, 10**6)
    while not net.batches:
        threading.Event().wait(0.01)
    thread = scheduler.thread
    scheduler.close()
    with pytest.raises(Stopped):
        long.result(timeout=30)
    assert not thread.is_alive() and scheduler.tasks() == 0
    assert scheduler.submit(lambda: 5).result(timeout=30) == 5  # a later task starts a new thread
    scheduler.close()


def test_comparisons_with_the_true_reverse_share_one_pass_over_the_data_set_per_tick():
    """Each comparison asks for the posterior weights of its two chains' x_t once a step; the
    scheduler runs one log_weights over every running comparison's rows, and each gets the images
    it would get alone."""
    from ddpm.diffusion import GaussianDiffusion
    from ddpm.true_reverse import TrueReverse

    diffusion = GaussianDiffusion.from_schedule("linear", 30)
    data = torch.rand((40, 1, 28, 28), generator=generator(3)).round() * 2 - 1

    rows: list[int] = []

    class Counting(TrueReverse):
        def log_weights(self, x_t, t):
            rows.append(x_t.shape[0])
            return super().log_weights(x_t, t)

    scheduler, truth = Scheduler(max_rows=1000), Counting(data, diffusion)
    batched = Batched(truth, scheduler, methods=("log_weights",))
    model = Batched(torch.nn.Identity(), scheduler)

    def compare(seed: int, reverse) -> torch.Tensor:
        steps = list(
            compare_reverse(
                diffusion, lambda x, t: model(x) * 0, data[seed : seed + 1], 12, seed, true_reverse=reverse
            )
        )
        return steps[-1].truth.chain.x_prev

    release = held(scheduler)
    futures = [scheduler.submit(compare, seed, batched) for seed in (1, 2, 3)]
    release.set()
    together = [future.result(timeout=60) for future in futures]
    assert rows[:12] == [6] * 12  # three comparisons × two chains' x_t, one pass per step
    for seed, x in zip((1, 2, 3), together, strict=True):
        assert torch.equal(x, compare(seed, truth))  # the same digit as alone
