"""The file operations the cache is allowed to use: atomic replace and delete.

Every write goes to a temporary file in the target folder, is flushed to disk, and is renamed over its
target, so a crash leaves either the old file or the new one, never half of one. The store takes this
object as a seam, which is how the crash tests interrupt a write at a chosen step.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

TMP_SUFFIX = ".tmp"


class FileOps:
    def write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.sync_dir(path.parent)

    def unlink(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    @staticmethod
    def sync_dir(folder: Path) -> None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
