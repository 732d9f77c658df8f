"""The protocol version: one source of truth, `protocol/VERSION` in the repository.

Installed copies of the package carry the same file as package data (`vasa_bridge/data/protocol/VERSION`); a test
checks the two are identical, so code, file and golden vectors cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

REPO_PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"
PACKAGE_PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "data" / "protocol"


def protocol_dir() -> Path:
    """`protocol/` of the source checkout when there is one, else the copy shipped inside the package."""
    return REPO_PROTOCOL_DIR if (REPO_PROTOCOL_DIR / "VERSION").is_file() else PACKAGE_PROTOCOL_DIR


@lru_cache(maxsize=1)
def protocol_version() -> str:
    """"MAJOR.MINOR", e.g. "1.0"."""
    text = (protocol_dir() / "VERSION").read_text(encoding="ascii").strip()
    major, minor = text.split(".")
    return f"{int(major)}.{int(minor)}"


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of "MAJOR.MINOR"; ValueError when it is not that form."""
    major, minor = str(text).split(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"protocol version must be MAJOR.MINOR, got {text!r}")
    return int(major), int(minor)
