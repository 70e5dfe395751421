"""``python -m pymilvus_import``: the ``milvus-import`` command."""

from ._cli import main

raise SystemExit(main())
