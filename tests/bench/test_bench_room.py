"""The in-process room benchmark: its rooms are batched (one pass per step) or not, as it says."""

from ddpm import checkpoint
from ddpm.bench import room as bench_room
from ddpm.inference import prepare_for_inference


def test_a_batched_room_takes_one_pass_per_step_and_one_chain_at_a_time_one_per_chain_step():
    unet, diffusion = checkpoint.load(checkpoint.DEFAULT)
    model = prepare_for_inference(unet, "cpu", "eager")
    _, batched = bench_room.room(model, diffusion, chains=5, steps=4, max_rows=5)
    _, one_at_a_time = bench_room.room(model, diffusion, chains=5, steps=4, max_rows=1)
    assert batched == 4 and one_at_a_time == 5 * 4


def test_it_prints_alone_batched_and_one_at_a_time(capsys):
    assert bench_room.main(["--chains", "3", "--steps", "2", "--device", "cpu", "--backend", "eager"]) == 0
    out = capsys.readouterr().out
    assert "one chain alone" in out and "room, batched" in out and "room, one chain at a time" in out


def test_the_network_floor_replays_one_pass_per_tick():
    # two chains from 0 s: 3 ticks of 4 rows, then the longer one alone, 2 ticks of 2 rows
    cost = {4: 1.0, 2: 0.5}.__getitem__
    assert bench_room.network_floor(cost, [0.0, 0.0], [3, 5]) == [3.0, 4.0]
    # the second arrives while the first runs: it joins at the next tick, its time counted from arrival
    # (a tick alone, a tick together, the first alone again)
    assert bench_room.network_floor(cost, [0.0, 0.3], [3, 1]) == [2.0, 1.2]
    # an idle gap: the clock jumps to the next arrival
    assert bench_room.network_floor(cost, [5.0, 0.0], [1, 1]) == [0.5, 0.5]


def test_the_floor_report_names_the_room_and_its_ratio():
    unet, diffusion = checkpoint.load(checkpoint.resolve("eps"))
    small = type(diffusion)(diffusion.betas[:20].double())  # T = 20 keeps it quick
    report = bench_room.explore_floor(prepare_for_inference(unet, "cpu", "eager"), small, 3)
    assert "batch 6" in report and "one comparison from t = 20 alone" in report
    assert "3 students" in report and "× one alone" in report
