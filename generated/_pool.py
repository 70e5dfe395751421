"""The private descriptor pool that holds this package's ``milvus.proto.*`` definitions.

Written by tools/generate.py. A private pool lets ``pymilvus_import`` and pymilvus (which registers the same full
names in protobuf's default pool) be imported into one process in either order.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
