"""What the browser tests share: the forward player's selector, the running chains, screenshots."""

import os
from pathlib import Path

import numpy as np

from ddpm.serve import compute

PLAYER = "#forward-player .ddpm-forward"


def running_chains() -> int:
    """Chains computing in this process: each is a task of the compute thread's scheduler
    (ddpm.serve.stream.paced)."""
    return compute.SCHEDULER.tasks()


def screenshot(page, name: str, tmp_path: Path, full_page: bool = True, jpeg: bool = False) -> Path:
    """Save what the page shows: under tmp_path, or in $DDPM_SCREENSHOTS (docs/screenshots) to
    regenerate the README's pictures. ``jpeg``: the views at each size and layout (a fifth the bytes)."""
    folder = Path(os.environ.get("DDPM_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{'jpg' if jpeg else 'png'}"
    options = {"type": "jpeg", "quality": 80} if jpeg else {}
    page.screenshot(path=str(path), full_page=full_page, **options)
    return path


READ_CANVAS = """([selector, height, width]) => {
    const canvas = document.querySelector(selector);
    const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const grey = [];
    for (let i = 0; i < height; i++) {
        for (let j = 0; j < width; j++) {  // the centre of each drawn pixel
            const y = Math.floor(((i + 0.5) * canvas.height) / height);
            const x = Math.floor(((j + 0.5) * canvas.width) / width);
            grey.push(rgba[4 * (y * canvas.width + x)]);
        }
    }
    return grey;
}"""


def canvas_pixels(page, selector: str, height: int = 28, width: int = 28) -> np.ndarray:
    """A canvas' grey levels, one per drawn image pixel: uint8 [height, width]."""
    grey = page.evaluate(READ_CANVAS, [selector, height, width])
    return np.array(grey, dtype=np.uint8).reshape(height, width)


def assert_same_pixels(page_image: np.ndarray, server: np.ndarray) -> None:
    """A picture computed in the page against the server's: ±1 grey level on at most 0.1% of pixels
    (onnxruntime and torch differ by ~1e-5)."""
    assert page_image.shape == server.shape
    gap = np.abs(page_image.astype(int) - server.astype(int))
    assert gap.max() <= 1 and (gap > 0).mean() <= 1e-3, (gap.max(), (gap > 0).mean())
