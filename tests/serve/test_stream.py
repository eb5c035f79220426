"""The background stream of the views (the chain computes while the page is fed); the progress bar."""

import threading
import time

import pytest

from ddpm.serve import compute
from ddpm.serve.stream import paced
from ddpm.views.kit.widgets import progress_bar


def test_yields_an_increasing_subsequence_ending_with_the_last_item():
    frames = list(paced(iter(range(500)), period=0.0))
    items = [item for item, _ in frames]
    assert items == sorted(set(items))  # in order, none twice
    assert frames[-1] == (499, True)
    assert all(not last for _, last in frames[:-1])


def test_a_long_period_skips_the_items_in_between():
    frames = list(paced(iter(range(1000)), period=60.0))
    assert frames == [(0, False), (999, True)]  # where the chain started, then where it ended


def test_a_chain_that_ends_before_the_page_looks_still_shows_its_first_item():
    frames = list(paced(iter(range(200_000)), period=0.0))  # done long before the consumer wakes
    assert frames[0] == (0, False)
    assert frames[-1] == (199_999, True)


def test_the_chain_runs_on_while_the_consumer_holds_a_frame():
    released, reached = threading.Event(), threading.Event()

    def items():
        yield 0
        yield 1  # the stream runs one item ahead: 0 is handed out once 1 exists
        released.wait(timeout=30)  # hold the chain until the consumer has its first frame
        for i in range(2, 200):
            if i == 100:
                reached.set()
            yield i

    stream = paced(items(), period=60.0)
    assert next(stream) == (0, False)
    released.set()
    # this generator is suspended: only a thread of its own can take the chain to item 100
    assert reached.wait(timeout=30)
    assert list(stream) == [(199, True)]


def test_closing_the_stream_stops_the_chain():
    produced, finished = [], threading.Event()

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                time.sleep(0.001)
                yield i
                i += 1
        finally:
            finished.set()

    stream = paced(endless(), period=0.01)
    next(stream)
    stream.close()
    assert finished.is_set()  # close() waits for the chain's task
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count
    assert compute.SCHEDULER.tasks() == 0


def test_an_error_in_the_chain_is_raised_to_the_consumer():
    def failing():
        yield 1
        yield 2
        raise ValueError("bad step 3")

    with pytest.raises(ValueError, match="bad step 3"):
        list(paced(failing(), period=0.0))


def test_the_closing_work_runs_on_the_compute_thread_and_its_result_is_the_last_item():
    seen = []

    def closing(last):
        seen.append(last)
        return ("closed", last, compute.on_thread())

    frames = list(paced(iter(range(1000)), period=60.0, closing=closing))
    # the consumer skipped to the end: the closing work still got the chain's last item, once
    assert frames == [(0, False), (("closed", 999, True), True)] and seen == [999]


def test_a_one_item_chain_is_closed_and_shown_once():
    assert list(paced(iter([7]), period=0.0, closing=lambda last: last * 10)) == [(70, True)]


def test_the_closing_work_runs_in_the_chains_task_after_its_last_item():
    order = []

    def items():
        for i in range(3):
            order.append(("item", i, compute.on_thread()))
            yield i
        order.append(("end", None, compute.on_thread()))

    def closing(last):
        order.append(("closing", last, compute.on_thread()))
        return last

    assert list(paced(items(), period=60.0, closing=closing)) == [(0, False), (2, True)]
    items_then_end = [("item", i, True) for i in range(3)] + [("end", None, True)]
    assert order == [*items_then_end, ("closing", 2, True)]
    assert compute.SCHEDULER.tasks() == 0


def test_a_stopped_chain_runs_no_closing_work():
    closed = []

    def endless():
        i = 0
        while True:
            time.sleep(0.001)
            yield i
            i += 1

    stream = paced(endless(), period=0.01, closing=closed.append)
    next(stream)
    stream.close()
    time.sleep(0.05)
    assert closed == [] and compute.SCHEDULER.tasks() == 0


def test_an_error_in_the_closing_work_is_raised_to_the_consumer():
    def closing(last):
        raise ValueError(f"no verdict on {last}")

    with pytest.raises(ValueError, match="no verdict on 2"):
        list(paced(iter(range(3)), period=0.0, closing=closing))


def test_an_empty_chain_runs_no_closing_work():
    closed = []
    assert list(paced(iter(()), period=0.0, closing=closed.append)) == [] and closed == []


def test_an_empty_chain_yields_nothing():
    assert list(paced(iter(()), period=0.0)) == []


def test_a_negative_period_is_refused():
    with pytest.raises(ValueError, match="-1"):
        next(paced(iter(range(3)), period=-1))


@pytest.mark.parametrize(("done", "total"), [(0, 1000), (1, 1000), (430, 1000), (999, 1000), (7, 7)])
def test_the_text_progress_bar_fills_in_proportion(done, total):
    bar, percent = progress_bar(done, total).rsplit(" ", 1)
    bar = bar.strip()
    assert len(bar) == 24
    assert bar.count("█") == round(24 * done / total)
    assert bar == "█" * bar.count("█") + "░" * bar.count("░")
    assert int(percent.rstrip("%")) == 100 * done // total


def test_in_a_crowd_each_stream_gets_fewer_frames(monkeypatch):
    from ddpm.serve import stream

    room = stream.ROOM_FRAMES
    for running, expected in ((0, 0.4), (1, 0.4), (int(0.4 * room), 0.4), (int(50 * room), 50.0)):
        monkeypatch.setattr(stream, "_streams", running)
        assert stream.pace(0.4) == pytest.approx(expected)  # at most ROOM_FRAMES frames a second in all


def test_the_drawing_budget_fills_at_its_share_and_is_spent_by_what_drawing_cost(monkeypatch):
    from ddpm.serve import stream

    now = [100.0]
    monkeypatch.setattr(stream.time, "perf_counter", lambda: now[0])
    budget = stream.Budget(share=0.25, burst=0.5)
    assert budget.allow()
    budget.charge(0.7)  # a redraw that took 0.7 s: 0.2 s in debt
    assert not budget.allow()
    now[0] += 0.4  # 0.1 s earned back: still in debt
    assert not budget.allow()
    now[0] += 0.8  # 0.2 s more: 0.1 s ahead
    assert budget.allow()
    now[0] += 1000  # an idle hour fills it to the burst, no further
    budget.charge(0.5)
    assert not budget.allow()
    with pytest.raises(ValueError, match="share must be > 0"):
        stream.Budget(share=0)


def test_the_running_streams_are_counted_from_start_to_end():
    from ddpm.serve import stream

    seen = []

    def items():
        for i in range(3):
            seen.append(stream.streams())
            yield i

    assert stream.streams() == 0
    list(paced(items(), period=0.0))
    assert seen and all(n == 1 for n in seen) and stream.streams() == 0
