"""Where relative paths in the serve config's settings point: one data root for every deployment.

The data root is $CHORUS_DATA_ROOT when set, else the working directory. It is not the source
tree: an installed package lives in site-packages, far from the data. Ray starts replicas in the
working directory of its raylet (for `serve run`, that of the command: the project directory for
`make serve`), or in the runtime env's working_dir when one is given.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT_ENV = "CHORUS_DATA_ROOT"


def data_root() -> Path:
    """Read on every call, so a settings model resolves against the environment it is built in."""
    return Path(os.environ.get(DATA_ROOT_ENV) or os.getcwd()).absolute()


def resolve(path: Path) -> Path:
    """`path` under the data root if it is relative; an absolute path is left as it is."""
    return path if path.is_absolute() else data_root() / path
