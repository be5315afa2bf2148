"""Deterministic per-purpose random generators."""

from __future__ import annotations

import random


def rng_for(seed: int, *parts: object) -> random.Random:
    """A Random seeded from the seed and a purpose path (str seeds hash with sha512)."""
    return random.Random("|".join([str(seed), *map(str, parts)]))


def hex_id(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def uuid_str(rng: random.Random, upper: bool) -> str:
    h = hex_id(rng, 16)
    s = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"
    return s.upper() if upper else s
