"""Images: conversions between model space and pixels, grids and crisp upscaling.

Convention used everywhere in ``ddpm``: a *model-space* image is a float tensor in [-1, 1] where
-1 is background (black) and +1 is ink (white), exactly like MNIST, whose uint8 pixels are
0 = background and 255 = ink. The affine map between the two is

    x = u / 127.5 - 1        (uint8 u in 0..255  ->  float x in [-1, 1])
    u = round((x + 1) * 127.5), clamped to 0..255

and the second is an exact inverse of the first on every uint8 value.

Only numpy, torch and PIL are used here (no torchvision, no gradio), so the UI and the command
line tools can share these helpers without heavy imports.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

__all__ = [
    "digit_tensor",
    "make_grid",
    "save_gif",
    "to_display",
    "to_model_range",
    "to_pil",
    "to_uint8",
    "upscale",
]


def _as_tensor(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor or np.ndarray, got {type(images).__name__}")
    return images


def to_model_range(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Map uint8 pixels to model space.

    Args:
        images: uint8 tensor or ndarray of any shape (typically ``[..., H, W]``), values 0..255,
            0 = background.

    Returns:
        float32 tensor of the same shape in [-1, 1]: ``images / 127.5 - 1`` (background -1,
        full ink +1). A tensor input keeps its device.

    Raises:
        ValueError: if the dtype is not uint8 (other integer ranges would be silently wrong).
    """
    tensor = _as_tensor(images)
    if tensor.dtype != torch.uint8:
        raise ValueError(f"images must have dtype uint8 (0..255), got {tensor.dtype}")
    return tensor.to(torch.float32) / 127.5 - 1.0


def digit_tensor(digit: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """One digit as a model's x_0: uint8 [28, 28] (0 = background, any array of 784 pixels) to
    float32 [1, 1, 28, 28] in [−1, 1] (:func:`to_model_range`), on ``device``."""
    return to_model_range(np.asarray(digit, dtype=np.uint8)).reshape(1, 1, 28, 28).to(device)


def to_uint8(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Map model-space images back to uint8 pixels, rounding to nearest.

    Args:
        x: float tensor (or ndarray) of any shape, nominally in [-1, 1]. Values outside are
            clamped; NaN becomes background (0) and ±inf the nearest end, so a diverged sample
            still displays.

    Returns:
        uint8 tensor of the same shape and device, ``round(clamp((x + 1) * 127.5, 0, 255))``,
        detached from any autograd graph. Exact inverse of :func:`to_model_range` on uint8 input.
    """
    tensor = torch.as_tensor(x).detach()
    if not tensor.is_floating_point():
        raise ValueError(f"x must be a floating point tensor in [-1, 1], got dtype {tensor.dtype}")
    tensor = tensor.to(torch.float32).nan_to_num(nan=-1.0, posinf=1.0, neginf=-1.0)
    return ((tensor + 1.0) * 127.5).clamp(0.0, 255.0).round().to(torch.uint8)


def _as_uint8_stack(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[N, 1, H, W]`` or ``[N, H, W]``, uint8 or float in [-1, 1] -> uint8 ``[N, H, W]``."""
    tensor = _as_tensor(images)
    if tensor.ndim == 4:
        if tensor.shape[1] != 1:
            raise ValueError(
                f"images [N, C, H, W] must have C = 1 (grayscale), got shape {tuple(tensor.shape)}"
            )
        tensor = tensor[:, 0]
    elif tensor.ndim != 3:
        raise ValueError(f"images must have shape [N, 1, H, W] or [N, H, W], got shape {tuple(tensor.shape)}")
    if tensor.shape[0] < 1:
        raise ValueError("images must contain at least one image (N >= 1), got N = 0")
    if tensor.dtype == torch.uint8:
        pixels = tensor
    elif tensor.is_floating_point():
        pixels = to_uint8(tensor)
    else:
        raise ValueError(
            f"images must be uint8 (0..255) or floating point in [-1, 1], got dtype {tensor.dtype}"
        )
    return pixels.detach().cpu().numpy()


def make_grid(
    images: torch.Tensor | np.ndarray,
    nrow: int = 8,
    padding: int = 2,
    pad_value: int = 128,
) -> np.ndarray:
    """Tile a batch of grayscale images into one uint8 picture (row-major, like torchvision).

    Args:
        images: ``[N, 1, H, W]`` or ``[N, H, W]``; uint8 (0..255) or float in [-1, 1]
            (converted with :func:`to_uint8`). N >= 1.
        nrow: images per row (>= 1). With fewer than ``nrow`` images the grid is ``N`` wide.
        padding: pixels of ``pad_value`` between tiles and around the border (>= 0).
        pad_value: uint8 grey level of the padding and of empty tiles in the last row. The default
            mid-grey separates tiles of black-background digits without looking like ink.

    Returns:
        uint8 ndarray ``[rows * (H + p) + p, cols * (W + p) + p]`` with ``cols = min(nrow, N)``,
        ``rows = ceil(N / cols)`` and ``p = padding``; image ``i`` sits at row ``i // cols``, column
        ``i % cols``, its top-left pixel at ``(p + r * (H + p), p + c * (W + p))``.
    """
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be an integer >= 1, got {nrow!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
    if isinstance(pad_value, bool) or not isinstance(pad_value, int) or not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be an integer in 0..255, got {pad_value!r}")
    stack = _as_uint8_stack(images)
    n, height, width = stack.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full(
        (rows * (height + padding) + padding, cols * (width + padding) + padding),
        pad_value,
        dtype=np.uint8,
    )
    for i in range(n):
        top = padding + (i // cols) * (height + padding)
        left = padding + (i % cols) * (width + padding)
        grid[top : top + height, left : left + width] = stack[i]
    return grid


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling: every pixel becomes a crisp ``factor × factor`` block.

    Args:
        image: ndarray ``[H, W]`` (typically uint8) or ``[H, W, C]``.
        factor: integer >= 1.

    Returns:
        ndarray ``[H * factor, W * factor]`` (``[..., C]`` kept), same dtype, where
        ``out[i, j] = image[i // factor, j // factor]``.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor!r}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape [H, W] or [H, W, C], got shape {image.shape}")
    factor = int(factor)
    if factor == 1:
        return image.copy()
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def to_pil(image: np.ndarray, scale: int = 1) -> Image.Image:
    """Wrap a uint8 grayscale image as a PIL image, optionally upscaled crisply.

    Args:
        image: uint8 ndarray ``[H, W]`` (0 = black).
        scale: integer >= 1, nearest-neighbour factor (see :func:`upscale`).

    Returns:
        PIL image of mode ``"L"`` and size ``(W * scale, H * scale)``.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(
            f"image must be a uint8 array of shape [H, W], got dtype {image.dtype} and shape {image.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(upscale(image, scale)))


def to_display(x: torch.Tensor | np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Grey levels for any real-valued image: ``low`` -> black (0), ``high`` -> white (255), clipped.

    Model-space images use the default [−1, 1] (the exact inverse of :func:`to_model_range`);
    noise ε ~ N(0, I) reads well with [−3, 3].

    Returns:
        uint8 ndarray of the same shape.
    """
    if not high > low:
        raise ValueError(f"need high > low, got low={low}, high={high}")
    t = _as_tensor(x).detach().to("cpu", torch.float32)
    return to_uint8((t - low) * (2.0 / (high - low)) - 1.0).numpy()  # [low, high] -> [-1, 1]


def save_gif(frames: list[np.ndarray], path: str, duration_ms: int = 80, hold_last_ms: int = 1500) -> str:
    """Write grayscale uint8 frames [H, W] as a looping animated GIF; the last frame is held longer."""
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(np.ascontiguousarray(f), mode="L") for f in frames]
    durations = [duration_ms] * (len(images) - 1) + [hold_last_ms]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    return path
