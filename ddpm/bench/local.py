"""Running the app locally for tests and benchmarks: free ports and a headless Chromium."""

from __future__ import annotations

import shutil
import socket

# Debian's Chromium, headless, as root, on a machine with no outside network: these flags keep it
# from trying to reach Google's services (each refused connection costs time).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
