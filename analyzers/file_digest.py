"""The checksum of a whole file, read in large blocks (hashlib releases the GIL on them).

One helper for every place that hashes a file: run files' MD5 (the Run table's
`file_checksum`), chunks' and pedestal maps' SHA-256, the acceptance map's identity.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 8 << 20


def file_hexdigest(path: str | Path, algorithm: str) -> str:
    """Hex digest of the file's bytes: `algorithm` is "md5" (a file identity, not
    security) or "sha256"."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
