"""``milvus-import``: submit bulk imports into Milvus and follow them to the end, from a shell.

``python -m pymilvus_import`` runs the same command. ``_parser`` holds the arguments and help texts, ``_commands``
the commands and their exit codes, ``_output`` what is shown (tables, JSON, progress, secret masking).
"""

from ._commands import main

__all__ = ["main"]
