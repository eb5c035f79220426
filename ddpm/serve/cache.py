"""The pieces of a results cache that know nothing of streams: keys for handler inputs, the
bytes a result holds, and a dict bounded in bytes (used by :mod:`.results`)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

MISSING = object()
"""What :meth:`LRU.get` returns for a key it does not hold."""


def fingerprint(value: Any) -> Hashable:
    """A hashable key for a handler's input: arrays by shape, dtype and the sha256 of their bytes,
    containers element by element; ``True`` and ``1`` stay different keys."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return ("ndarray", data.shape, data.dtype.str, hashlib.sha256(data.tobytes()).hexdigest())
    if isinstance(value, list | tuple):
        return (type(value).__name__, *(fingerprint(v) for v in value))
    if isinstance(value, dict):
        return ("dict", *sorted((str(k), fingerprint(v)) for k, v in value.items()))
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return (type(value).__name__, value)
    return ("repr", repr(value))


def size_of(value: Any) -> int:
    """Bytes a cached result holds: arrays, strings, tables, and the files its paths name."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, str):
        is_file = len(value) < 4096 and os.sep in value and os.path.isfile(value)
        return len(value) + (os.path.getsize(value) if is_file else 0)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return 64 + sum(size_of(v) for v in value)
    if isinstance(value, dict):
        return 64 + sum(size_of(k) + size_of(v) for k, v in value.items())
    if hasattr(value, "memory_usage"):  # a pandas DataFrame
        return int(value.memory_usage(deep=True).sum())
    return sys.getsizeof(value)


class LRU:
    """A dict bounded in bytes: the least recently used entries leave first."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be ≥ 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.total = 0
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any:
        """The value, now the most recently used, or ``MISSING``."""
        if key not in self._entries:
            return MISSING
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def put(self, key: Hashable, value: Any, size: int) -> bool:
        """Keep ``value`` unless it alone exceeds the limit; evicts the oldest to make room."""
        if key in self._entries:
            self.total -= self._entries.pop(key)[1]
        if size > self.max_bytes:
            return False
        self._entries[key] = (value, size)
        self.total += size
        while self.total > self.max_bytes:
            self.total -= self._entries.popitem(last=False)[1][1]
        return True
