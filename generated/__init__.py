"""protoc output for protos/ (see tools/generate.py). Do not edit; run ``make generate``.

Only ``pymilvus_import._wire`` imports these modules.
"""
