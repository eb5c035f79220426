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
