"""Float32 arrays and a JSON header in one .npz: the file format of the speech front end and the articulation head
(numpy only, so loading them needs no torch)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from vasa_bridge.errors import ModelVersionError

_META = "__meta__"


def arrays_sha256(config: dict, arrays: dict[str, np.ndarray]) -> str:
    """Content hash of a config and its float32 arrays (what a model file records of another it depends on)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k], np.float32).tobytes())
    return h.hexdigest()


def write_npz(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **{_META: np.frombuffer(json.dumps(meta).encode(), np.uint8)},
             **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    path.write_bytes(buffer.getvalue())


def read_npz(path: str | Path, what: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays); a truncated or foreign file is a ModelVersionError naming `what` it should have been."""
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z[_META]).decode())
            arrays = {k: z[k] for k in z.files if k != _META}
    except Exception as e:  # numpy and json raise many types
        raise ModelVersionError(f"{path} is not a vasa_bridge {what} ({type(e).__name__}: {e})") from None
    return meta, arrays


__all__ = ["arrays_sha256", "write_npz", "read_npz"]
