"""Ids a person types (samples, runs, jobs): whole numbers a SQLite row can have.

One parser for the CLI, the app and imported files, so a typo such as 10^30 gets the same clear
message everywhere instead of an OverflowError from SQLite's 64-bit integers.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1  # SQLite's largest integer: a bigger id cannot name a row
SHOWN = 40  # characters of a bad value echoed back (a 200 kB "number" is not repeated)


def shown(value) -> str:
    """`value` for an error message, shortened."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 5]}...' ({len(text) - 2:,} chars)"


def parse_id(value, what: str = "an id") -> int:
    """A positive whole number up to MAX_ID, from text or an int; ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{what} must be a whole number, got {shown(value)}")
    text = str(value).strip()
    digits = text.removeprefix("-").removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{what} must be a whole number, got {shown(value)}")
    # Far more digits than 2^63 has: no int() of it (Python refuses 4,300+ digits anyway).
    number = int(text) if len(digits) <= 20 else MAX_ID + 1
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{what} must be between 1 and {MAX_ID:,} (2^63 - 1), got {shown(value)}")
    return number


def parse_ids(text, what: str = "sample id", example: str = "12,40,41") -> list[int]:
    """'12, 40 41' -> [12, 40, 41] (order kept, repeats dropped); empty or only commas refused."""
    parts = str(text if text is not None else "").replace(",", " ").split()
    if not parts:
        raise ValueError(f"no {what} given; type ids such as {example}")
    return list(dict.fromkeys(parse_id(p, f"a {what}") for p in parts))
