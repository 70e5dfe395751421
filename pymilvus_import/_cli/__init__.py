"""``milvus-import``: submit bulk imports into Milvus and follow them to the end, from a shell.

``python -m pymilvus_import`` runs the same command. ``_parser`` holds the arguments and help texts, ``_commands``
the commands and their exit codes, ``_output`` what is shown (tables, JSON, progress, secret masking),
``_verbosity`` keeps gRPC's own log lines out of the command's output. Nothing is imported here, so the package's
``__init__`` can load ``_verbosity`` before gRPC.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``milvus-import`` (see :func:`._commands.main`)."""
    from ._commands import main as run

    return run(argv)
