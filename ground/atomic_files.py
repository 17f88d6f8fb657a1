"""Files that appear whole or not at all: written beside their target, fsynced, then renamed into place.

A crash, a failed write or a concurrent reader (another replica sharing a cache or the voice
library) never sees half a file: the rename onto the target is atomic within one file system,
which is why the temporary file lives in the target's directory. Making the rename itself
durable (an fsync of the directory) is left to callers that need it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Temporary files start 0600; the finished file is readable by every process, as a plain write would leave it.
_MODE = 0o644


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target` to write (for writers that want a path, like onnx.save).

    When the block ends without an error the file is fsynced and renamed onto `target`;
    otherwise it is removed and `target` is left as it was.
    """
    target = Path(target)
    # Hidden, and with the target's suffix for writers that pick a format from it.
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=target.suffix)
    os.close(descriptor)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb") as written:
            os.fsync(written.fileno())
        tmp.chmod(_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(target: Path, content: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(content)

