"""Seeded noise as a pure function of (key, time): the same instant always gets the same value.

A counter-based hash (SplitMix64's finaliser) of a 64-bit key and a knot index gives a uniform
number per knot; knots are `period_s` apart on the UTC epoch and smoothly interpolated between.
No random state is carried, so any cell of any day can be recomputed, in any order, vectorised
over meters (keys) and cells (times) at once.
"""

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def key(*parts: object) -> int:
    """A stable 64-bit key for a tuple (seed, park, meter, purpose) — independent of dict order."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniform(keys: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) for every (index, key): shape (len(index), len(keys))."""
    k = np.asarray(keys, dtype=np.uint64)[None, :]
    i = np.asarray(index, dtype=np.int64).astype(np.uint64)[:, None]
    with np.errstate(over="ignore"):
        h = _mix(k ^ _mix(i * _GOLDEN + _GOLDEN))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def smooth(keys: np.ndarray, t_s: np.ndarray, period_s: float) -> np.ndarray:
    """Smooth noise in [-1, 1] at epoch seconds t_s (n,) for keys (m,): shape (n, m)."""
    pos = np.asarray(t_s, dtype=np.float64) / period_s
    k0 = np.floor(pos)
    f = (pos - k0)[:, None]
    f = f * f * (3 - 2 * f)  # smoothstep: continuous slope at the knots
    first = int(k0.min()) if len(k0) else 0
    knots = np.arange(first, int(k0.max()) + 2 if len(k0) else 1)
    values = 2 * uniform(keys, knots) - 1
    i0 = (k0 - first).astype(np.int64)
    return values[i0] * (1 - f) + values[i0 + 1] * f


_MASK = (1 << 64) - 1


def _mix_int(x: int) -> int:
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _uniform_one(k: int, index: int) -> float:
    return (_mix_int(k ^ _mix_int((index * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & _MASK)) >> 11) / (1 << 53)


def smooth_one(k: int, t_s: float, period_s: float) -> float:
    """`smooth` for one key at one instant, in plain Python (the per-request path): same values."""
    pos = t_s / period_s
    k0 = int(pos // 1)
    f = pos - k0
    f = f * f * (3 - 2 * f)
    a, b = 2 * _uniform_one(k, k0 & _MASK) - 1, 2 * _uniform_one(k, (k0 + 1) & _MASK) - 1
    return a * (1 - f) + b * f
