"""Tests for ddpm.images: pixel <-> model-space maps, grids, crisp upscaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm.images import make_grid, to_model_range, to_pil, to_uint8, upscale

# ---------------------------------------------------------------- to_model_range / to_uint8


def test_to_model_range_values_and_dtype() -> None:
    pixels = torch.tensor([0, 51, 127, 128, 255], dtype=torch.uint8)
    x = to_model_range(pixels)
    assert x.dtype == torch.float32
    expected = torch.tensor([-1.0, -0.6, 127 / 127.5 - 1, 128 / 127.5 - 1, 1.0])
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)


def test_to_model_range_accepts_numpy_and_keeps_shape() -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    x = to_model_range(array)
    assert isinstance(x, torch.Tensor)
    assert x.shape == (2, 3, 4)
    torch.testing.assert_close(x, torch.from_numpy(array.astype(np.float32) / 127.5 - 1.0))


def test_round_trip_is_exact_on_all_256_values() -> None:
    pixels = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    back = to_uint8(to_model_range(pixels))
    assert back.dtype == torch.uint8
    assert torch.equal(back, pixels)


def test_to_uint8_rounds_to_nearest_and_clamps() -> None:
    # (x + 1) * 127.5: 0.5 -> 191.25, -0.5 -> 63.75, 0.9 -> 242.25, -0.995 -> 0.6375
    x = torch.tensor([-3.0, -1.0, -0.995, -0.5, 0.5, 0.9, 1.0, 1.5, 1e6])
    expected = torch.tensor([0, 0, 1, 64, 191, 242, 255, 255, 255], dtype=torch.uint8)
    assert torch.equal(to_uint8(x), expected)


def test_to_uint8_non_finite_values_display() -> None:
    x = torch.tensor([float("nan"), float("inf"), -float("inf")])
    assert to_uint8(x).tolist() == [0, 255, 0]


def test_to_uint8_keeps_shape_and_detaches() -> None:
    x = torch.zeros(2, 1, 3, 5, requires_grad=True)
    out = to_uint8(x * 1.0)
    assert out.shape == (2, 1, 3, 5)
    assert not out.requires_grad


def test_dtype_errors() -> None:
    with pytest.raises(ValueError, match="uint8"):
        to_model_range(torch.zeros(3))
    with pytest.raises(ValueError, match="floating point"):
        to_uint8(torch.zeros(3, dtype=torch.uint8))


# ---------------------------------------------------------------- make_grid


def _expected_grid(tiles: np.ndarray, nrow: int, padding: int, pad_value: int) -> np.ndarray:
    """Independent oracle: pad every tile bottom/right, fill the last row, stack, pad top/left."""
    n, height, width = tiles.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    blank = np.full((height, width), pad_value, dtype=np.uint8)
    padded = [
        np.pad(tiles[i] if i < n else blank, ((0, padding), (0, padding)), constant_values=pad_value)
        for i in range(rows * cols)
    ]
    body = np.vstack([np.hstack(padded[r * cols : (r + 1) * cols]) for r in range(rows)])
    return np.pad(body, ((padding, 0), (padding, 0)), constant_values=pad_value)


def test_make_grid_layout_with_constant_tiles() -> None:
    n, height, width, nrow, padding, pad_value = 5, 3, 4, 3, 2, 200
    values = [10, 20, 30, 40, 50]
    tiles = torch.stack([torch.full((1, height, width), v, dtype=torch.uint8) for v in values])
    grid = make_grid(tiles, nrow=nrow, padding=padding, pad_value=pad_value)

    assert isinstance(grid, np.ndarray)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * (height + padding) + padding, 3 * (width + padding) + padding)
    for i, value in enumerate(values):
        top = padding + (i // nrow) * (height + padding)
        left = padding + (i % nrow) * (width + padding)
        assert (grid[top : top + height, left : left + width] == value).all(), f"tile {i}"
    # Everything not covered by a tile is padding, including the empty sixth slot.
    covered = np.isin(grid, values)
    assert covered.sum() == n * height * width
    assert (grid[~covered] == pad_value).all()
    np.testing.assert_array_equal(grid, _expected_grid(tiles[:, 0].numpy(), nrow, padding, pad_value))


def test_make_grid_matches_oracle_on_random_float_images() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(7, 1, 5, 6, generator=generator) * 2.4 - 1.2  # some values out of range
    grid = make_grid(images, nrow=4, padding=1, pad_value=0)
    expected = _expected_grid(to_uint8(images)[:, 0].numpy(), nrow=4, padding=1, pad_value=0)
    np.testing.assert_array_equal(grid, expected)
    # [N, H, W] and ndarray inputs give the same picture.
    np.testing.assert_array_equal(make_grid(images[:, 0].numpy(), nrow=4, padding=1, pad_value=0), grid)


def test_make_grid_fewer_images_than_nrow_and_no_padding() -> None:
    tiles = torch.arange(2 * 2 * 3, dtype=torch.int32).to(torch.uint8).reshape(2, 2, 3)
    grid = make_grid(tiles, nrow=8, padding=0)
    np.testing.assert_array_equal(grid, np.hstack([tiles[0].numpy(), tiles[1].numpy()]))


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        (torch.zeros(0, 1, 4, 4), {}, "N >= 1"),
        (torch.zeros(4, 4), {}, "shape"),
        (torch.zeros(2, 3, 4, 4), {}, "C = 1"),
        (torch.zeros(2, 4, 4, dtype=torch.int64), {}, "dtype"),
        (torch.zeros(2, 4, 4), {"nrow": 0}, "nrow"),
        (torch.zeros(2, 4, 4), {"padding": -1}, "padding"),
        (torch.zeros(2, 4, 4), {"pad_value": 256}, "pad_value"),
    ],
)
def test_make_grid_rejects_bad_input(images: torch.Tensor, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_grid(images, **kwargs)


# ---------------------------------------------------------------- upscale / to_pil


def test_upscale_makes_constant_blocks() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(4, 5), dtype=np.uint8)
    factor = 3
    big = upscale(image, factor)
    assert big.shape == (12, 15)
    assert big.dtype == np.uint8
    for i in range(4):
        for j in range(5):
            block = big[i * factor : (i + 1) * factor, j * factor : (j + 1) * factor]
            assert (block == image[i, j]).all(), (i, j)
    np.testing.assert_array_equal(upscale(image, 1), image)


@pytest.mark.parametrize("factor", [0, -2, 2.0, 1.5, True, "2"])
def test_upscale_rejects_bad_factor(factor: object) -> None:
    with pytest.raises(ValueError, match="factor"):
        upscale(np.zeros((2, 2), dtype=np.uint8), factor)  # type: ignore[arg-type]


def test_to_pil_is_mode_l_and_crisp() -> None:
    image = np.array([[0, 255], [128, 7]], dtype=np.uint8)
    pil = to_pil(image, scale=4)
    assert isinstance(pil, Image.Image)
    assert pil.mode == "L"
    assert pil.size == (8, 8)
    np.testing.assert_array_equal(np.asarray(pil), upscale(image, 4))
    with pytest.raises(ValueError, match="uint8"):
        to_pil(image.astype(np.float32))
