"""The preflight's messages (DescribeCollection, HasPartition and the trimmed schema) cross with
pymilvus's full definitions, and ``_wire`` decodes a fully populated pymilvus reply into the plain values.

(The field-by-field descriptor comparison and the round trips of every message run in tests/test_wire_compat.py,
which walks schema.proto too.)
"""

from __future__ import annotations

from pymilvus.grpc_gen import common_pb2 as ref_common_pb2
from pymilvus.grpc_gen import milvus_pb2 as ref_milvus_pb2
from pymilvus.grpc_gen import schema_pb2 as ref_schema_pb2

from pymilvus_import import _wire
from pymilvus_import._generated import milvus_pb2, schema_pb2


def test_preflight_messages_are_defined() -> None:
    names = set(milvus_pb2.DESCRIPTOR.message_types_by_name) | set(schema_pb2.DESCRIPTOR.message_types_by_name)
    assert {
        "DescribeCollectionRequest",
        "DescribeCollectionResponse",
        "ShowPartitionsRequest",
        "ShowPartitionsResponse",
        "HasPartitionRequest",
        "BoolResponse",
        "CollectionSchema",
        "FieldSchema",
    } <= names
    assert schema_pb2.DESCRIPTOR.package == ref_schema_pb2.DESCRIPTOR.package == "milvus.proto.schema"


def test_preflight_method_paths_and_types_match_pymilvus() -> None:
    ref = ref_milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
    for path in (_wire.DESCRIBE_COLLECTION, _wire.HAS_PARTITION):
        name = path.rsplit("/", 1)[1]
        assert path == f"/{ref.full_name}/{name}"
        ours = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"].methods_by_name[name]
        assert ours.input_type.full_name == ref.methods_by_name[name].input_type.full_name
        assert ours.output_type.full_name == ref.methods_by_name[name].output_type.full_name


def test_data_type_names_match_the_descriptors() -> None:
    ours = {v.number: v.name for v in schema_pb2.DataType.DESCRIPTOR.values}
    assert dict(_wire.DATA_TYPE_NAMES) == ours
    for number, name in ours.items():
        assert ref_schema_pb2.DataType.Value(name) == number


def test_a_pymilvus_describe_reply_decodes_into_plain_values() -> None:
    ref = ref_milvus_pb2.DescribeCollectionResponse(
        status=ref_common_pb2.Status(),
        collectionID=4711,
        collection_name="books",
        db_name="shop",
        shards_num=2,
        aliases=["b"],
        schema=ref_schema_pb2.CollectionSchema(
            name="books",
            description="all of them",
            enable_dynamic_field=True,
            fields=[
                ref_schema_pb2.FieldSchema(
                    fieldID=100, name="pk", is_primary_key=True, autoID=True, data_type=ref_schema_pb2.Int64
                ),
                ref_schema_pb2.FieldSchema(
                    fieldID=101,
                    name="tenant",
                    data_type=ref_schema_pb2.VarChar,
                    is_partition_key=True,
                    type_params=[ref_common_pb2.KeyValuePair(key="max_length", value="32")],
                ),
                ref_schema_pb2.FieldSchema(
                    fieldID=102,
                    name="note",
                    data_type=ref_schema_pb2.VarChar,
                    nullable=True,
                    default_value=ref_schema_pb2.ValueField(string_data="-"),
                ),
                ref_schema_pb2.FieldSchema(fieldID=103, name="$meta", data_type=ref_schema_pb2.JSON, is_dynamic=True),
                ref_schema_pb2.FieldSchema(
                    fieldID=104,
                    name="vec",
                    data_type=ref_schema_pb2.FloatVector,
                    type_params=[ref_common_pb2.KeyValuePair(key="dim", value="768")],
                ),
                ref_schema_pb2.FieldSchema(
                    fieldID=106,
                    name="tags",
                    data_type=ref_schema_pb2.Array,
                    element_type=ref_schema_pb2.VarChar,
                    type_params=[
                        ref_common_pb2.KeyValuePair(key="max_capacity", value="4"),
                        ref_common_pb2.KeyValuePair(key="max_length", value="16"),
                    ],
                ),
                ref_schema_pb2.FieldSchema(fieldID=105, name="odd", data_type=ref_schema_pb2.Mol),
            ],
            struct_array_fields=[ref_schema_pb2.StructArrayFieldSchema(fieldID=200, name="chunks")],
        ),
    )
    reply = _wire.decode_describe_collection_response(ref.SerializeToString())
    assert reply.code == 0
    schema = reply.schema
    assert schema is not None
    assert (schema.collection_name, schema.enable_dynamic_field, schema.struct_array_fields) == (
        "books",
        True,
        ("chunks",),
    )
    assert schema.partition_key == "tenant"
    assert schema.fields == (
        _wire.FieldInfo("pk", "Int64", is_primary=True, auto_id=True),
        _wire.FieldInfo("tenant", "VarChar", is_partition_key=True, type_params={"max_length": "32"}),
        _wire.FieldInfo("note", "VarChar", nullable=True, has_default=True),
        _wire.FieldInfo("$meta", "JSON", is_dynamic=True),
        _wire.FieldInfo("vec", "FloatVector", type_params={"dim": "768"}),
        _wire.FieldInfo("tags", "Array", element_type="VarChar", type_params={"max_capacity": "4", "max_length": "16"}),
        _wire.FieldInfo("odd", f"DataType({ref_schema_pb2.Mol})"),  # a type newer than ours: its number
    )
    # What the file checks read: the dimension, the limits and an array's element type.
    vec, tags = schema.fields[4], schema.fields[5]
    assert (vec.dim, tags.max_capacity, tags.max_length, tags.element_type) == (768, 4, 16, "VarChar")


def test_partition_replies_and_requests_cross() -> None:
    has = ref_milvus_pb2.BoolResponse(status=ref_common_pb2.Status(code=100, error_code=4, reason="nope"), value=False)
    assert _wire.decode_bool_response(has.SerializeToString()) == (100, "nope", False)

    request = ref_milvus_pb2.HasPartitionRequest.FromString(
        _wire.encode_has_partition_request(collection_name="c", partition_name="p", db_name="d")
    )
    assert (request.collection_name, request.partition_name, request.db_name) == ("c", "p", "d")
    request = ref_milvus_pb2.DescribeCollectionRequest.FromString(
        _wire.encode_describe_collection_request(collection_name="c", db_name="d")
    )
    assert (request.collection_name, request.db_name, request.HasField("base")) == ("c", "d", False)
