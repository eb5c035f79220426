"""DDPM: the reverse process, step by step. ``python app.py`` serves http://127.0.0.1:7860.

The page is built in :mod:`ddpm.views.page` from the views of ``ddpm.views`` and served with
``ddpm.serve``; every number and image comes from ``ddpm``. The same file runs locally, on a CPU
Space and on a ZeroGPU Space (``spaces`` is used if present).
"""

from __future__ import annotations

import threading

from ddpm.serve import queue
from ddpm.serve.runtime import warm_up
from ddpm.views.page import TITLE, build_demo, launch_options

__all__ = ["TITLE", "build_demo", "main"]


def main() -> None:
    demo = build_demo()
    queue.configure(demo)  # queue sizes and busy messages: environment settings (docs/serving.md)
    threading.Thread(target=warm_up, daemon=True).start()  # load the models while the page opens
    demo.launch(**launch_options())


if __name__ == "__main__":
    main()
