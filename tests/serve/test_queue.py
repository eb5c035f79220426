"""A full queue answers with a message that says the server is busy and when to retry."""

import threading
import time

import gradio as gr
import httpx
import pytest

from ddpm.bench.local import free_port
from ddpm.serve import queue


def start(max_size: int, per_event: int):
    release = threading.Event()

    def slow(x: float) -> float:
        release.wait(20)
        return x

    def quick(x: float) -> float:
        return x + 1

    with gr.Blocks() as demo:
        number, out = gr.Number(), gr.Number()
        gr.Button().click(slow, number, out, api_name="slow", concurrency_limit=1)
        gr.Button().click(quick, number, out, api_name="quick")
    demo.queue(max_size=max_size, default_concurrency_limit=1)
    queue.limit_queues(demo, per_event=per_event)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    return demo, url.rstrip("/"), release


@pytest.fixture
def slow_app():
    demo, url, release = start(max_size=50, per_event=2)
    yield url, release
    release.set()
    demo.close()


@pytest.fixture
def small_queue():
    demo, url, release = start(max_size=1, per_event=10)
    yield url, release
    release.set()
    demo.close()


def post(url: str, name: str, value: float) -> httpx.Response:
    return httpx.post(f"{url}/gradio_api/call/{name}", json={"data": [value]}, timeout=10)


def result(url: str, name: str, response: httpx.Response) -> str:
    event = response.json()["event_id"]
    return httpx.get(f"{url}/gradio_api/call/{name}/{event}", timeout=30).text


def test_one_endpoint_full_refuses_with_when_to_retry_and_the_others_still_serve(slow_app):
    url, release = slow_app
    accepted = [post(url, "slow", 1.0)]  # running
    time.sleep(0.3)
    accepted += [post(url, "slow", 2.0), post(url, "slow", 3.0)]  # waiting: the endpoint's line is full
    assert all(r.status_code == 200 for r in accepted)
    refused = post(url, "slow", 4.0)
    assert refused.status_code == 503
    assert "busy" in refused.json()["detail"] and "Retry in about" in refused.json()["detail"]
    quick = post(url, "quick", 1.0)  # another endpoint has its own line
    assert quick.status_code == 200 and "2.0" in result(url, "quick", quick)
    release.set()
    assert all("complete" in result(url, "slow", r) for r in accepted)


def test_the_whole_queue_full_is_worded_the_same_way(small_queue):
    url, release = small_queue
    running = post(url, "slow", 1.0)
    time.sleep(0.3)
    waiting = post(url, "slow", 2.0)  # the one place in the queue
    time.sleep(0.1)
    refused = post(url, "quick", 1.0)
    assert refused.status_code == 503
    detail = refused.json()["detail"]
    assert detail.startswith("The server is busy: 1 request is waiting") and "Retry in about" in detail
    release.set()
    assert all("complete" in result(url, "slow", r) for r in (running, waiting))


def test_the_busy_message_rounds_up_and_names_a_wait():
    assert queue.busy_message(12, 0.2) == "The server is busy: 12 requests are waiting. Retry in about 1 s."
    assert "about 8 s" in queue.busy_message(3, 7.2)


def test_gradios_statistics_are_summarized_now_and_then_not_after_every_event(monkeypatch):
    from gradio.queueing import Queue

    tables = []
    get_df = Queue._get_df
    monkeypatch.setattr(Queue, "_get_df", staticmethod(lambda records: tables.append(1) or get_df(records)))
    with gr.Blocks() as demo:
        number, out = gr.Number(), gr.Number()
        gr.Button().click(lambda x: x + 1, number, out, api_name="quick")
    queue.configure(demo)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    try:
        url = url.rstrip("/")
        for i in range(30):
            assert "complete" in result(url, "quick", post(url, "quick", float(i)))
    finally:
        demo.close()
    assert len(tables) <= 1  # Gradio alone builds one per event: 30
