"""Counter-based seeding: every example owns random streams derived from its coordinates.

An example is identified by ``(master seed, config name, split, index)``. Its 63-bit ``seed`` is
derived from those four with :class:`numpy.random.SeedSequence` (strings enter as CRC-32 words,
which are stable across Python processes, unlike ``hash``). From that one integer come two
independent streams:

* the **scene** stream (``scene_rng``): every sampled truth parameter;
* the **noise** stream (``noise_rng``, seeded by the stored ``noise_seed``): every noise draw.

(Both sub-seeds are the first four 32-bit words of ``SeedSequence(seed)``.)

So any row can be regenerated alone from its stored ``seed``, the output does not depend on how
examples are distributed over processes or machines, and overriding only the noise settings (the
same config name and master seed, e.g. ``--set noise=none``) leaves every scene unchanged; a
config of another name draws other scenes, as the name is part of each example's seed.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field

import numpy as np

_MASK63 = (1 << 63) - 1


def _word(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _int63(seq: np.random.SeedSequence) -> int:
    hi, lo = (int(w) for w in seq.generate_state(2, np.uint32))
    return ((hi << 32) | lo) & _MASK63


def example_seed(master_seed: int, config_name: str, split: str, index: int) -> int:
    """The 63-bit seed of one example (stored in the row's ``seed`` column)."""
    entropy = [master_seed & 0xFFFFFFFF, master_seed >> 32, _word(config_name), _word(split), index]
    return _int63(np.random.SeedSequence(entropy))


@dataclass(frozen=True)
class Example:
    """One example's coordinates and seeds.

    Attributes
    ----------
    split, index
        The split name and the example's 0-based index within it.
    seed
        The example's 63-bit seed (see :func:`example_seed`).
    label_hint
        For configs with exactly balanced classes, the class index this example must have;
        ``None`` otherwise.
    """

    split: str
    index: int
    seed: int
    label_hint: int | None = None
    scene_seed: int = field(init=False, repr=False)
    noise_seed: int = field(init=False)

    def __post_init__(self) -> None:
        # One SeedSequence gives both sub-stream seeds (the noise one is stored in the row).
        words = np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.seed >> 32]).generate_state(4)
        scene = ((int(words[0]) << 32) | int(words[1])) & _MASK63
        noise = ((int(words[2]) << 32) | int(words[3])) & _MASK63
        object.__setattr__(self, "scene_seed", scene)
        object.__setattr__(self, "noise_seed", noise)

    def scene_rng(self) -> np.random.Generator:
        """A fresh generator for the scene (truth) stream."""
        return np.random.default_rng(self.scene_seed)

    def noise_rng(self) -> np.random.Generator:
        """A fresh generator for the noise stream."""
        return np.random.default_rng(self.noise_seed)


def balanced_label(seed_of_block: int, n_classes: int, index: int) -> int:
    """The class of ``index`` when each block of ``n_classes`` examples holds every class once.

    ``seed_of_block`` must be derived from the block number (``index // n_classes``); the order
    inside a block is a random permutation, so classes do not cycle in a fixed pattern.
    """
    return _block_permutation(seed_of_block, n_classes)[index % n_classes]


@functools.lru_cache(maxsize=256)
def _block_permutation(seed_of_block: int, n_classes: int) -> tuple[int, ...]:
    # Consecutive examples share a block: draw its permutation once.
    return tuple(int(k) for k in np.random.default_rng(seed_of_block).permutation(n_classes))
