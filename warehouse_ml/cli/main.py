"""The ``wml`` command line: the group and every command registered on it.

Exit codes are part of the API for scheduled jobs: 0 success, 1 a node or test failed,
2 bad usage or configuration. Errors print one paragraph, with a traceback only under
``--debug``.
"""

from __future__ import annotations

from warehouse_ml.cli import (  # noqa: F401  (they register themselves)
    compile_command,
    docs,
    ml,
    monitor,
    project_commands,
    serve,
    sources,
    sync,
)
from warehouse_ml.cli.app import main

__all__ = ["main"]
