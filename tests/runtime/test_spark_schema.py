"""Payload types of the Spark job: inference, merging, storing; pure Python (no session)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ml_blueprints.runtime import spark_schema as schema
from ml_blueprints.runtime.event_contract import JsonNumber, parse_event

BIG = DecimalType(38, 0)


def struct(**fields: DataType) -> StructType:
    return StructType([StructField(name, data_type) for name, data_type in fields.items()])


def payload(text: str) -> dict:
    return schema.fold_tree(parse_event(text.encode()))


def test_infer_folds_names_sorts_fields_and_keeps_integers_exact() -> None:
    value = payload(
        '{"Zeta":1,"alpha":{"B":true,"a":[1,2.5,null]},"big":9007199254740992,'
        '"safe":-9007199254740991,"f":1E5,"s":"x","n":null,"empty":{},"list":[]}'
    )
    assert list(value) == ["alpha", "big", "empty", "f", "list", "n", "s", "safe", "zeta"]
    assert schema.infer(value) == struct(
        alpha=struct(a=ArrayType(DoubleType()), b=BooleanType()),
        big=BIG,  # past 2^53 - 1: a double could not hold it
        empty=struct(),
        f=DoubleType(),
        list=ArrayType(NullType()),
        n=NullType(),
        s=StringType(),
        safe=LongType(),
        zeta=LongType(),
    )


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (LongType(), LongType(), LongType()),
        (NullType(), BIG, BIG),
        (IntegerType(), LongType(), LongType()),
        (LongType(), DoubleType(), DoubleType()),  # bigint holds at most 2^53 - 1: exact
        (FloatType(), DoubleType(), DoubleType()),
        (LongType(), BIG, BIG),
        (DecimalType(10, 2), DecimalType(5, 4), DecimalType(12, 4)),
        (BIG, DecimalType(10, 2), StringType()),  # 40 digits: no decimal holds both
        (BIG, DoubleType(), StringType()),  # neither holds the other exactly
        (LongType(), StringType(), StringType()),
        (BooleanType(), LongType(), StringType()),
        (struct(a=LongType()), LongType(), StringType()),
        (ArrayType(LongType()), struct(a=LongType()), StringType()),
        (TimestampType(), StringType(), StringType()),
        (
            struct(a=LongType(), b=StringType()),
            struct(a=DoubleType(), c=BooleanType()),
            struct(a=DoubleType(), b=StringType(), c=BooleanType()),
        ),
        (ArrayType(NullType()), ArrayType(BIG), ArrayType(BIG)),
        (
            MapType(StringType(), LongType()),
            MapType(StringType(), DoubleType()),
            MapType(StringType(), DoubleType()),
        ),
    ],
)
def test_common_type(left: DataType, right: DataType, expected: DataType) -> None:
    assert schema.common_type(left, right) == expected
    assert schema.common_type(right, left) == expected


def test_normalize_folds_and_merges_names_of_an_older_file() -> None:
    older = struct(User=struct(Id=LongType(), id=DoubleType()), Amount=LongType())
    assert schema.normalize(older) == struct(amount=LongType(), user=struct(id=DoubleType()))


def test_storable_turns_what_parquet_cannot_store_into_strings() -> None:
    inferred = struct(
        n=NullType(), e=struct(), a=ArrayType(NullType()), s=struct(x=NullType(), y=struct())
    )
    assert schema.storable(inferred) == struct(
        n=StringType(),
        e=StringType(),
        a=ArrayType(StringType()),
        s=struct(x=StringType(), y=StringType()),
    )
    assert schema.storable(struct()) == struct()  # no payload at all: no columns


def test_to_spark_keeps_every_value_exactly() -> None:
    value = payload(
        '{"big":123456789012345678901234567890,"i":-0,"d":0.10000000000000000001,'
        '"mixed":[1,"a",{"k":1.50}],"o":{"x":[true]},"t":"text","e":{}}'
    )
    target = struct(
        big=BIG,
        d=DoubleType(),
        e=StringType(),
        i=LongType(),
        mixed=StringType(),
        o=struct(x=ArrayType(BooleanType()), y=StringType()),
        t=StringType(),
    )
    assert schema.to_spark(value, target) == (
        Decimal("123456789012345678901234567890"),
        0.1,
        "{}",
        0,
        '[1,"a",{"k":1.50}]',  # as written: 1.50 keeps its text
        ([True], None),
        "text",
    )
    assert schema.to_spark(JsonNumber("12", 12), StringType()) == "12"
    assert schema.to_spark(JsonNumber("12", 12), DoubleType()) == 12.0
    with pytest.raises(TypeError):
        schema.to_spark("text", LongType())
