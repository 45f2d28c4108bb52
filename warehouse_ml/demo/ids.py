"""Vectorized identifier text for the demo generator: ids, emails, names.

Every identifier comes from a *bijective* integer mix of a counter, so ids look random but
are unique by construction (no birthday collisions at 50M rows) and fully deterministic.
Text is built with numpy byte tables and pyarrow compute, never a Python loop per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Values that real Segment sources send by mistake and identity resolution must block
# (https://segment.com/docs/unify/identity-resolution/identity-resolution-settings/).
JUNK_ANONYMOUS_IDS = ("anonymous", "0", "-1", "00000000")
JUNK_EMAILS = ("null", "test@test.com")

FIRST_NAMES = [
    "olivia",
    "emma",
    "ava",
    "sophia",
    "mia",
    "amelia",
    "harper",
    "evelyn",
    "abigail",
    "ella",
    "liam",
    "noah",
    "oliver",
    "elijah",
    "james",
    "william",
    "benjamin",
    "lucas",
    "henry",
    "theo",
    "jack",
    "levi",
    "mateo",
    "owen",
    "leo",
    "lina",
    "yuki",
    "omar",
    "sara",
    "nora",
    "ivan",
    "paula",
    "diego",
    "chloe",
    "hannah",
    "marta",
    "felix",
    "jonas",
    "emil",
    "ines",
    "ruth",
]
LAST_NAMES = [
    "smith",
    "johnson",
    "brown",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "lopez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "clark",
    "lewis",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "green",
    "baker",
    "adams",
    "nelson",
    "hill",
    "campbell",
    "mitchell",
    "roberts",
    "muller",
    "schmidt",
    "dubois",
    "rossi",
]
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "gmx.de")
ALT_EMAIL_DOMAINS = ("work-mail.com", "corp.example.com", "hotmail.com")

_MUL1 = np.uint64(0x9E3779B97F4A7C15)
_MUL2 = np.uint64(0xBF58476D1CE4E5B9)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Two hex characters per byte value: _HEX_PAIRS[b] = (hi, lo).
_HEX_PAIRS = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1)


def mix(values: np.ndarray, bits: int, salt: int = 0) -> np.ndarray:
    """Scramble integers in [0, 2**bits) bijectively (a splitmix-style finalizer).

    Each step (add a constant, xorshift right, multiply by an odd constant) is a bijection
    modulo 2**bits, so distinct inputs always give distinct outputs.
    """
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(bits // 2)
    x = (np.asarray(values, dtype=np.uint64) + np.uint64(salt) + _MUL1) & mask
    x = ((x ^ (x >> half)) * _MUL2) & mask
    x = ((x ^ (x >> np.uint64(bits // 2 - 3))) * _MUL1) & mask
    return x ^ (x >> half)


def hex_text(values: np.ndarray, width: int) -> pa.StringArray:
    """The low `width` hex digits (even) of each uint64, as an Arrow string array."""
    n_bytes = width // 2
    raw = np.ascontiguousarray(np.asarray(values, dtype=">u8")).view(np.uint8).reshape(-1, 8)
    chars = _HEX_PAIRS[raw[:, 8 - n_bytes :]].reshape(-1, width)
    fixed = np.ascontiguousarray(chars).view(f"S{width}").ravel()
    return pa.array(fixed, type=pa.binary(width)).cast(pa.string())


def dec_text(values: np.ndarray, width: int = 0) -> pa.StringArray:
    """Decimal text of integers, left-padded with zeros to `width` when given."""
    text = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def pick(words: tuple[str, ...] | list[str], index: np.ndarray) -> pa.StringArray:
    """Words chosen by integer index, as an Arrow string array (a vectorized take)."""
    return pa.array(list(words), pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def join(*parts: pa.Array | str) -> pa.StringArray:
    """Element-wise concatenation of string arrays and literal strings."""
    return pc.binary_join_element_wise(*parts, "")


def take_masked(source: pa.Array, index: np.ndarray, valid: np.ndarray) -> pa.Array:
    """source[index] where `valid`, NULL elsewhere (index is ignored where not valid)."""
    idx = pa.array(np.where(valid, index, 0).astype(np.int64), mask=~np.asarray(valid, bool))
    return source.take(idx)
