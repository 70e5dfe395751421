"""gRPC's own log lines (C core, e.g. ``Handshake failed``, ``Got goaway``) are not for a shell user: the CLI keeps
them at ERROR unless ``--debug`` or ``GRPC_VERBOSITY`` asks otherwise.

gRPC reads ``GRPC_VERBOSITY`` once, when it is first imported, and ``import pymilvus_import`` imports it; so this
runs on import, which the package's ``__init__`` does before anything else, and only when the process is the
``milvus-import`` command (the console script, or ``python -m pymilvus_import``). A library user's process is left
alone. Imports nothing but ``os`` and ``sys``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence


def is_the_command(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """True when this process runs ``milvus-import`` (console script) or ``python -m pymilvus_import``."""
    if argv and os.path.basename(argv[0]) == "milvus-import":
        return True
    if "-m" in orig_argv:
        after = orig_argv.index("-m") + 1
        return after < len(orig_argv) and orig_argv[after] == "pymilvus_import"
    return False


def keep_grpc_quiet(
    argv: Sequence[str] | None = None,
    environ: MutableMapping[str, str] | None = None,
    orig_argv: Sequence[str] | None = None,
) -> None:
    """Set ``GRPC_VERBOSITY=ERROR`` for the command's process, unless it is set already or ``--debug`` is given."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    orig_argv = getattr(sys, "orig_argv", argv) if orig_argv is None else orig_argv
    if "GRPC_VERBOSITY" in environ or not is_the_command(argv, orig_argv):
        return
    options = list(argv[: argv.index("--")] if "--" in argv else argv)
    if "--debug" not in options:
        environ["GRPC_VERBOSITY"] = "ERROR"


keep_grpc_quiet()
