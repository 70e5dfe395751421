"""What is inside the import files, checked before any job exists (issue 17).

One module per format reads a header or streams values and returns plain facts; ``rules`` holds the server's rules
as data (each tagged with the versions it holds for); ``check`` turns facts + schema + version into a report. The
reading itself is an effect, like an RPC: readers get their bytes from a :class:`~.source.Source` (a local file
now; an object-storage ranged reader plugs in through the same two methods), so everything else is pure.

Nothing here is imported by ``import pymilvus_import``; ``pyarrow`` (the ``files`` extra) is imported only when a
Parquet file is read.
"""
