"""Files written whole or not at all: write a hidden temporary beside the target, then rename over it.

A reader (or a resumed job) never sees a half-written file: the rename is atomic on one filesystem,
and a failed write leaves the previous file, if any, untouched. The temporary is a new file with a
unique name (created exclusively, so a planted symlink cannot redirect it), and the rename replaces
a symlink at the target instead of writing through it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on an error it is removed."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # as an ordinary new file would be, not mkstemp's 0600
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def reserve(path: str | Path) -> None:
    """Allocate the disk blocks of an existing (sparse) file now, so a full disk is an OSError here and not a
    SIGBUS ("Bus error", no message) when a memory map of it is written later."""
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size and hasattr(os, "posix_fallocate"):  # Linux; elsewhere the write itself reports a full disk
            try:
                os.posix_fallocate(fh.fileno(), 0, size)
            except OSError as exc:
                raise OSError(exc.errno, f"{exc.strerror}: {size / 2**20:.1f} MB needed", str(path)) from None
