"""Output files made durable and hashed (light imports: the GeoPackage child uses this too)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Settled:
    """A complete file's sha256 once its data is on disk, with the size and modification
    time it had then: a manifest takes the digest only while both are unchanged."""

    sha256: str
    size: int
    mtime_ns: int

    def holds_for(self, path: Path) -> bool:
        """Whether ``path`` is still the file that was settled (same size and time)."""
        st = path.stat()
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


def settle(path: Path) -> Settled:
    """Make the complete file ``path`` durable (fsync) and hash it.

    Done by a run's writers as soon as each large output is complete, on a thread or process
    with a core to spare: the writeback and the reading happen while the run goes on, not
    in its last seconds (nationally 2 GB of the 2.3 GB a run writes).
    """
    with Path(path).open("rb") as fh:
        os.fsync(fh.fileno())
        st = os.fstat(fh.fileno())
    return Settled(sha256_file(path), st.st_size, st.st_mtime_ns)
