"""MNIST loading (through torchvision) and MNIST-style preprocessing of a user's own digit.

Data root, first match wins:

1. the ``root`` argument;
2. the environment variable ``DDPM_DATA`` (see :data:`DATA_ENV_VAR`);
3. a ``data/`` folder in the current working directory.

torchvision looks for ``<root>/MNIST/raw/*-ubyte`` and, when ``download=True`` and they are missing,
downloads them there (its normal behaviour); with ``download=False`` a missing dataset raises a
:class:`FileNotFoundError` saying where we looked and how to fix it.

MNIST: Yann LeCun, Corinna Cortes and Christopher J.C. Burges, "The MNIST database of handwritten
digits", distributed under CC BY-SA 3.0. Images are 28×28 uint8 with 0 = background.

The pixel <-> model-space helpers of :mod:`ddpm.images` are re-exported here, so
``ddpm.data.make_grid`` works too.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from ddpm.images import make_grid, to_model_range, to_uint8, upscale

__all__ = [
    "BUNDLED_DIGITS",
    "DATA_ENV_VAR",
    "TRAINING_DIGITS",
    "MNISTSplit",
    "bundled_digits",
    "load_mnist",
    "load_mnist_tensor",
    "make_grid",
    "preprocess_digit",
    "resolve_data_root",
    "to_model_range",
    "to_uint8",
    "training_digits",
    "upscale",
]

DATA_ENV_VAR = "DDPM_DATA"

# MNIST geometry (LeCun et al.): the digit is size-normalised into a 20×20 box (aspect kept,
# anti-aliased), then translated so its intensity-weighted centre of mass sits at the centre
# of the 28×28 field. Measured on the 60,000 training digits with row/column indices 0..27,
# the mean centre of mass is (row 13.996, col 14.007), std 0.29 each: the centre is 14.0, not 13.5.
MNIST_SIZE = 28
DIGIT_BOX = 20
MNIST_CENTER = 14.0

MAX_PIXELS = 4096 * 4096  # larger uploads are refused before decoding
MIN_INK = 0.1  # ink contrast (in [0, 1]) below which an image counts as blank
MIN_INK_PIXELS = 4  # ... as does one with fewer ink pixels than this
# Bounding box of pixels brighter than this fraction of the max ink. 10% keeps the faint
# anti-aliased rim that MNIST's own 20×20 box includes (a re-scanned MNIST digit comes back
# with correlation 0.999 on average at 10%, 0.998 at 15%).
CROP_FRACTION = 0.1

ImageLike = Image.Image | np.ndarray | str | os.PathLike | bytes | bytearray


class MNISTSplit(NamedTuple):
    """One MNIST split; unpacks like ``images, labels = load_mnist()``."""

    images: torch.Tensor  # uint8 [N, 28, 28], 0 = background; or float32 [N, 1, 28, 28] in [-1, 1]
    labels: torch.Tensor  # int64 [N], digits 0..9


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """Return the data root: ``root`` if given, else ``$DDPM_DATA`` if set, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    from_env = os.environ.get(DATA_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return Path.cwd() / "data"


def load_mnist(
    root: str | os.PathLike | None = None, train: bool = True, download: bool = True
) -> MNISTSplit:
    """Load an MNIST split as uint8 tensors.

    Args:
        root: data root (see :func:`resolve_data_root`); torchvision uses ``<root>/MNIST/raw``.
        train: the 60,000-image training split if True, else the 10,000-image test split.
        download: let torchvision download the files when they are missing.

    Returns:
        ``MNISTSplit(images, labels)``: uint8 ``[N, 28, 28]`` (0..255, 0 = background) and
        int64 ``[N]`` in 0..9.

    Raises:
        FileNotFoundError: the files are missing and could not (or may not) be downloaded.
    """
    import torchvision  # lazy: the app must start without paying for this import

    data_root = resolve_data_root(root)
    try:
        dataset = torchvision.datasets.MNIST(str(data_root), train=train, download=download)
    except RuntimeError as err:  # torchvision's "Dataset not found" / "Error downloading ..."
        where = data_root / "MNIST" / "raw"
        fix = "allow download=True" if not download else "copy the files there by hand"
        how = f"set {DATA_ENV_VAR} or pass root= to a folder holding MNIST/raw/*-ubyte, or {fix}"
        what = "not found" if not download else "could not be downloaded"
        raise FileNotFoundError(f"MNIST {what} in {where} ({err}); {how}") from err
    return MNISTSplit(dataset.data.to(torch.uint8), dataset.targets.to(torch.int64))


def load_mnist_tensor(
    root: str | os.PathLike | None = None, train: bool = True, download: bool = True
) -> MNISTSplit:
    """Like :func:`load_mnist`, images as float32 ``[N, 1, 28, 28]`` in [-1, 1], -1 = background."""
    images, labels = load_mnist(root, train=train, download=download)
    return MNISTSplit(to_model_range(images).unsqueeze(1), labels)


BUNDLED_DIGITS = Path(__file__).resolve().parent / "assets" / "digits.npz"


def bundled_digits() -> MNISTSplit:
    """The 100 MNIST test digits shipped with the package (the first 10 of each class, in class
    order; see ``ddpm/assets/README.md``): uint8 [100, 28, 28] and int64 labels [100]."""
    with np.load(BUNDLED_DIGITS) as data:
        return MNISTSplit(torch.from_numpy(data["images"]), torch.from_numpy(data["labels"]))


TRAINING_DIGITS = Path(__file__).resolve().parent / "assets" / "mnist-train.npz"


def training_digits() -> MNISTSplit:
    """The 60,000 MNIST training digits shipped with the package (``ddpm/assets/README.md``), in
    MNIST's order: uint8 [60000, 28, 28] (0 = background) and int64 labels [60000]. About 10 MB
    compressed, read in about half a second; nothing is downloaded."""
    with np.load(TRAINING_DIGITS) as data:
        return MNISTSplit(torch.from_numpy(data["images"]), torch.from_numpy(data["labels"].astype(np.int64)))


def _read(image: ImageLike) -> np.ndarray:
    """Any supported input -> float64 ndarray in [0, 1]: ``[H, W]`` or ``[H, W, C]``, C in 1..4."""
    if isinstance(image, (str, os.PathLike, bytes, bytearray)):
        source = io.BytesIO(bytes(image)) if isinstance(image, (bytes, bytearray)) else image
        try:
            image = Image.open(source)  # lazy: the size is known before decoding the pixels
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise ValueError(f"could not read image: {err}") from err
    if isinstance(image, Image.Image):
        width, height = image.size
        _check_size(height, width)
        wide = image.mode in ("I", "I;16", "I;16B", "I;16L", "F")  # integer or float pixels
        has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
        target = "F" if wide else "RGBA" if has_alpha else "L" if image.mode in ("1", "L") else "RGB"
        try:
            image = image.convert(target)  # decodes the pixels
        except (OSError, ValueError) as err:
            raise ValueError(f"could not read image: {err}") from err
        return _normalise(np.asarray(image)) if wide else np.asarray(image, np.float64) / 255.0
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a PIL image, ndarray, path or bytes, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"image array must have shape [H, W] or [H, W, C<=4], got {image.shape}")
    _check_size(image.shape[0], image.shape[1])
    return _normalise(image)


def _check_size(height: int, width: int) -> None:
    if height < 1 or width < 1 or height * width > MAX_PIXELS:
        raise ValueError(
            f"image size {width}x{height} is not allowed: each side must be >= 1 and the total "
            f"at most {MAX_PIXELS} pixels (4096x4096)"
        )


def _normalise(array: np.ndarray) -> np.ndarray:
    """Scale pixels to [0, 1]: uint8, bool, or floats/ints in [0, 1], [0, 255] or [0, 65535]."""
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"image array must be numeric, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("image array contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 65535.0:
        raise ValueError(f"image values must lie in [0, 1] or [0, 255], got [{low}, {high}]")
    scale = 1.0 if high <= 1.0 else 255.0 if high <= 255.0 else 65535.0
    return values / scale


def _to_gray(pixels: np.ndarray) -> np.ndarray:
    """``[H, W]`` or ``[H, W, C]`` in [0, 1] -> gray ``[H, W]``, alpha resolved (see step 2)."""
    if pixels.ndim == 2:
        return pixels
    channels = pixels.shape[2]
    if channels in (1, 3):
        return _luminance(pixels)
    colour, alpha = pixels[..., : channels - 1], pixels[..., channels - 1]
    gray = _luminance(colour)
    if alpha.min() >= 1.0:
        return gray
    opaque = alpha > 0.5
    if not opaque.any():
        raise ValueError("the image looks blank: it is fully transparent")
    # Ink colour from the opaque pixels: a sketchpad gives black strokes on a transparent
    # background, which must land on white (and light strokes on black), not vanish.
    backdrop = 1.0 if gray[opaque].mean() < 0.5 else 0.0
    return gray * alpha + backdrop * (1.0 - alpha)


def _luminance(colour: np.ndarray) -> np.ndarray:
    if colour.shape[2] == 1:
        return colour[..., 0]
    return colour @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as PIL's "L"


def _border_median(gray: np.ndarray) -> float:
    ring = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(ring))


def preprocess_digit(image: ImageLike) -> np.ndarray:
    """Turn a user's digit into an MNIST-like image, the way MNIST itself was made.

    Steps (LeCun et al.'s recipe, plus what a photo or a sketchpad needs first):

    1. Read: PIL image (any mode), ndarray ``[H, W]``/``[H, W, 3]``/``[H, W, 4]`` (uint8, or
       float in [0, 1] or [0, 255]), file path or encoded bytes. At most 4096×4096 pixels.
    2. Alpha: transparent pixels are background; dark opaque ink is composited onto white,
       light ink onto black.
    3. Gray in [0, 1]; invert if the background (median of the 1-pixel border) is light > 0.5,
       so the ink is bright on dark.
    4. Subtract the background level and clip at 0; too little ink means a blank image.
    5. Crop to the bounding box of pixels brighter than 10% of the maximum ink.
    6. Resize (area-averaging down, Lanczos up) so the longer side is 20 px, aspect kept; max -> 255.
    7. Place in a 28×28 black field with the intensity-weighted centre of mass at (14, 14)
       (rounded to whole pixels, never pushing ink out of the frame).

    Returns:
        uint8 ndarray ``[28, 28]``, 0 = background, max 255.

    Raises:
        ValueError: unreadable input, absurd size, or an image with no visible ink ("blank").
    """
    gray = _to_gray(_read(image))
    if _border_median(gray) > 0.5:
        gray = 1.0 - gray
    ink = np.clip(gray - _border_median(gray), 0.0, None)
    peak = float(ink.max())
    if peak < MIN_INK or int((ink >= MIN_INK).sum()) < MIN_INK_PIXELS:
        raise ValueError(
            f"the image looks blank: ink contrast {peak:.3f} (need >= {MIN_INK} on at least "
            f"{MIN_INK_PIXELS} pixels); draw a darker or larger digit"
        )

    rows = np.flatnonzero((ink > CROP_FRACTION * peak).any(axis=1))
    cols = np.flatnonzero((ink > CROP_FRACTION * peak).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = crop.shape
    longer = max(height, width)
    new_h = max(1, round(height * DIGIT_BOX / longer))
    new_w = max(1, round(width * DIGIT_BOX / longer))
    # Shrinking: area averaging (BOX) is the exact anti-aliasing of a drawing, as MNIST's grey
    # rims are. Enlarging a tiny drawing: Lanczos, so it does not come out blocky.
    resample = Image.Resampling.BOX if longer >= DIGIT_BOX else Image.Resampling.LANCZOS
    resized = Image.fromarray(crop.astype(np.float32)).resize((new_w, new_h), resample=resample)
    digit = np.clip(np.asarray(resized, dtype=np.float64), 0.0, None)  # Lanczos rings below 0
    if digit.max() <= 0.0:
        raise ValueError("the image looks blank: no ink left after resizing")
    digit = digit * (255.0 / digit.max())

    total = digit.sum()
    com_row = (digit.sum(axis=1) * np.arange(new_h)).sum() / total
    com_col = (digit.sum(axis=0) * np.arange(new_w)).sum() / total
    top = int(np.clip(np.floor(MNIST_CENTER - com_row + 0.5), 0, MNIST_SIZE - new_h))
    left = int(np.clip(np.floor(MNIST_CENTER - com_col + 0.5), 0, MNIST_SIZE - new_w))

    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = np.rint(digit).astype(np.uint8)
    return canvas
