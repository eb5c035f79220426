import socket
import urllib.request

import gradio as gr

import app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_builds_and_serves_its_page():
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    port = free_port()
    demo.queue(max_size=4).launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as response:
            config = response.read().decode()
        assert app.TITLE in config
    finally:
        demo.close()
