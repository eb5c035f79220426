"""The app's compute thread: one thread per process runs the network work, in turn."""

import inspect
import multiprocessing
import os
import threading

import pytest

from ddpm.serve import compute
from ddpm.serve.stream import paced


def test_calls_from_many_threads_run_on_one_other_thread():
    seen = []

    def caller():
        seen.append(compute.call(threading.get_ident))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen.append(compute.call(threading.get_ident))
    assert len(set(seen)) == 1
    assert seen[0] != threading.get_ident()


def test_a_call_from_the_compute_thread_runs_at_once():
    # queued behind itself, the inner call would never run: this would hang
    assert compute.call(lambda: (compute.on_thread(), compute.call(lambda: 41) + 1)) == (True, 42)
    assert not compute.on_thread()


def test_errors_reach_the_caller():
    def fail(value):
        raise ValueError(f"bad value {value}")

    with pytest.raises(ValueError, match="bad value 3"):
        compute.call(fail, 3)
    assert compute.call(lambda: 1) == 1  # and the thread lives on


def test_a_routed_handler_keeps_its_signature_for_gradio():
    def handler(digit, t: int = 300, seed: int = 0):
        return threading.get_ident()

    routed = compute.on_compute_thread(handler)
    assert inspect.signature(routed) == inspect.signature(handler)
    assert routed.__name__ == "handler"
    assert routed(None) == compute.call(threading.get_ident)


def test_a_paced_chain_computes_every_step_on_the_compute_thread():
    def items():
        for _ in range(20):
            yield compute.on_thread()

    assert all(on for on, _ in paced(items(), period=0.0))


def _child(queue):
    queue.put((os.getpid(), compute.call(os.getpid)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_compute_thread_of_its_own():
    compute.call(lambda: None)  # the parent's thread exists before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0  # the parent's thread does not exist in the child: reusing it hangs
    pid, ran_in = queue.get(timeout=5)
    assert pid == ran_in != os.getpid()
