"""Payload types for the Spark job (:mod:`spark_etl`): which Spark type stores each JSON value,
how two types that one column holds in different rows or runs merge, and how a value becomes
its column's type, with no value lost or rounded.

Shipped beside the job with :mod:`event_contract` (it imports nothing else from the project);
Python 3.9+.

Types a value is stored as (:func:`infer`); names are folded to lower case
(:func:`event_contract.fold`) at every level and struct fields sorted by name:

- a string: ``string``; ``true``/``false``: ``boolean``; ``null``: no type of its own (it
  goes with any; a column that is only ever null is stored as ``string``)
- an integer of magnitude up to 2^53 - 1: ``bigint``; a larger one (up to 38 digits, the
  contract's limit): ``decimal(38,0)``; any other number: ``double``
- an object: a struct (an object that never has a field is stored as its JSON text, ``{}``:
  Parquet cannot store an empty struct); an array: an array of the merged type of its items

Merging two types (:func:`common_type`), so that every value of both is kept exactly:
integers widen (``int`` -> ``bigint``); exact numbers of different widths become the decimal
that holds both (``bigint`` and ``decimal(38,0)`` -> ``decimal(38,0)``), or ``string`` past 38
digits; a ``bigint`` and a ``double`` become ``double`` (exact: ``bigint`` only holds integers
up to 2^53 - 1); a decimal and a double become ``string`` (neither holds the other exactly);
structs merge field by field, arrays and maps element by element; anything else (a number
and a string, a boolean and a number, a struct and a scalar) becomes ``string``. A value
stored as ``string`` because of such a merge keeps its JSON text: a number its digits as the
producer wrote them, an object or array its JSON (:func:`to_spark`, :func:`conform`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import reduce
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    ByteType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    NumericType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

try:  # in the package
    from ml_blueprints.runtime import event_contract as contract
except ImportError:  # on Glue or EMR: shipped beside the job
    import event_contract as contract  # type: ignore[no-redef]

#: The largest integer magnitude stored as ``bigint`` (any larger one as ``decimal(38,0)``),
#: so that widening ``bigint`` to ``double`` never rounds.
MAX_SAFE_INTEGER = 2**53 - 1
#: The widest decimal precision Spark and Parquet store.
MAX_PRECISION = 38
BIG_INTEGER = DecimalType(MAX_PRECISION, 0)

# Integer types, narrowest first, and the decimal precision each needs.
_INTEGRAL: tuple[type[DataType], ...] = (ByteType, ShortType, IntegerType, LongType)
_INTEGRAL_DIGITS = {ByteType: 3, ShortType: 5, IntegerType: 10, LongType: 19}


def fold_tree(value: Any) -> Any:
    """``value`` with every object's field names folded (:func:`event_contract.fold`) and
    sorted; the contract guarantees no two names of one object fold alike."""
    if isinstance(value, dict):
        return {
            contract.fold(name): fold_tree(item)
            for name, item in sorted(value.items(), key=lambda pair: contract.fold(pair[0]))
        }
    if isinstance(value, list):
        return [fold_tree(item) for item in value]
    return value


def infer(value: Any) -> DataType:
    """The type a value (as :func:`event_contract.parse_event` gives, names folded) is stored
    as, before :func:`storable` (see the module docstring)."""
    if value is None:
        return NullType()
    if isinstance(value, bool):
        return BooleanType()
    if isinstance(value, str):
        return StringType()
    if isinstance(value, contract.JsonNumber):
        if value.is_integer:
            return LongType() if abs(value.value) <= MAX_SAFE_INTEGER else BIG_INTEGER
        return DoubleType()
    if isinstance(value, list):
        return ArrayType(reduce(common_type, (infer(item) for item in value), NullType()))
    if isinstance(value, dict):
        return StructType([StructField(name, infer(item)) for name, item in value.items()])
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def normalize(data_type: DataType) -> DataType:
    """``data_type`` (e.g. as a Parquet file of an earlier version holds it) with struct field
    names folded and sorted, fields whose names fold alike merged."""
    if isinstance(data_type, StructType):
        merged: dict[str, DataType] = {}
        for field in data_type.fields:
            name, field_type = contract.fold(field.name), normalize(field.dataType)
            known = merged.get(name)
            merged[name] = field_type if known is None else common_type(known, field_type)
        return StructType([StructField(name, merged[name]) for name in sorted(merged)])
    if isinstance(data_type, ArrayType):
        return ArrayType(normalize(data_type.elementType))
    if isinstance(data_type, MapType):
        return MapType(normalize(data_type.keyType), normalize(data_type.valueType))
    return data_type


def _exact_digits(data_type: DataType) -> tuple[int, int] | None:
    """(precision, scale) of an integer or decimal type, else None."""
    if isinstance(data_type, DecimalType):
        return data_type.precision, data_type.scale
    digits = _INTEGRAL_DIGITS.get(type(data_type))
    return None if digits is None else (digits, 0)


def common_type(left: DataType, right: DataType) -> DataType:
    """The type a column holding ``left`` in some rows and ``right`` in others is stored as
    (see the module docstring); struct types must be :func:`normalize`-d."""
    if left == right:
        return left
    if isinstance(left, NullType):
        return right
    if isinstance(right, NullType):
        return left
    if isinstance(left, _INTEGRAL) and isinstance(right, _INTEGRAL):
        return max(left, right, key=lambda value: _INTEGRAL.index(type(value)))
    exact_left, exact_right = _exact_digits(left), _exact_digits(right)
    if exact_left is not None and exact_right is not None:
        scale = max(exact_left[1], exact_right[1])
        integer_digits = max(exact_left[0] - exact_left[1], exact_right[0] - exact_right[1])
        if integer_digits + scale <= MAX_PRECISION:
            return DecimalType(integer_digits + scale, scale)
        return StringType()
    if isinstance(left, NumericType) and isinstance(right, NumericType):
        if isinstance(left, DecimalType) or isinstance(right, DecimalType):
            return StringType()  # a decimal and a double: neither holds the other exactly
        return DoubleType()
    if isinstance(left, StructType) and isinstance(right, StructType):
        theirs = {field.name: field.dataType for field in right.fields}
        ours = {field.name: field.dataType for field in left.fields}
        return StructType(
            [
                StructField(
                    name,
                    common_type(ours[name], theirs[name])
                    if name in ours and name in theirs
                    else (ours[name] if name in ours else theirs[name]),
                )
                for name in sorted({*ours, *theirs})
            ]
        )
    if isinstance(left, ArrayType) and isinstance(right, ArrayType):
        return ArrayType(common_type(left.elementType, right.elementType))
    if isinstance(left, MapType) and isinstance(right, MapType):
        return MapType(
            common_type(left.keyType, right.keyType), common_type(left.valueType, right.valueType)
        )
    return StringType()


def merge_types(types: Iterable[DataType]) -> DataType:
    """:func:`common_type` of all ``types`` (``NullType`` for none)."""
    return reduce(common_type, types, NullType())


def storable(data_type: DataType) -> DataType:
    """``data_type`` as Parquet can store it: null-only as ``string``, an empty struct as
    ``string`` (its JSON text), recursively. A top-level struct stays a struct (its fields
    become the columns)."""
    if isinstance(data_type, StructType):
        return StructType(
            [StructField(field.name, _storable_field(field.dataType)) for field in data_type]
        )
    return _storable_field(data_type)


def _storable_field(data_type: DataType) -> DataType:
    if isinstance(data_type, NullType):
        return StringType()
    if isinstance(data_type, StructType):
        return storable(data_type) if data_type.fields else StringType()
    if isinstance(data_type, ArrayType):
        return ArrayType(_storable_field(data_type.elementType))
    if isinstance(data_type, MapType):
        return MapType(_storable_field(data_type.keyType), _storable_field(data_type.valueType))
    return data_type


def to_spark(value: Any, target: DataType) -> Any:
    """A value (names folded) as the Python value PySpark stores in a column of ``target``, a
    type :func:`common_type` gave for it; ``TypeError`` if it does not fit (a defect)."""
    if value is None:
        return None
    if isinstance(target, StringType):
        return value if isinstance(value, str) else contract.dumps(value)
    if isinstance(target, BooleanType) and isinstance(value, bool):
        return value
    if isinstance(value, contract.JsonNumber):
        if isinstance(target, _INTEGRAL) and value.is_integer:
            return value.value
        if isinstance(target, DecimalType) and value.is_integer:
            return Decimal(value.text)
        if isinstance(target, (DoubleType, FloatType)):
            return float(value.value)
    if isinstance(target, ArrayType) and isinstance(value, list):
        return [to_spark(item, target.elementType) for item in value]
    if isinstance(target, StructType) and isinstance(value, dict):
        return tuple(to_spark(value.get(field.name), field.dataType) for field in target.fields)
    raise TypeError(f"a {type(value).__name__} does not fit {target.simpleString()}")


def conform(value: Column, source: DataType, target: DataType) -> Column:
    """Column ``value`` (of type ``source``, e.g. as an existing Parquet partition holds it,
    names in any case) as ``target``, a :func:`common_type` of the :func:`normalize`-d
    ``source``."""
    if source == target:
        return value
    if isinstance(target, StringType):
        if isinstance(source, (StructType, ArrayType, MapType)):
            return F.to_json(value)
        return value.cast(StringType())
    if isinstance(target, StructType) and isinstance(source, StructType):
        return F.when(value.isNotNull(), F.struct(*fields_as(value.getField, source, target)))
    if isinstance(target, ArrayType) and isinstance(source, ArrayType):
        return F.transform(
            value, lambda item: conform(item, source.elementType, target.elementType)
        )
    if isinstance(target, MapType) and isinstance(source, MapType):
        if source.keyType != target.keyType:
            value = F.transform_keys(
                value, lambda key, _: conform(key, source.keyType, target.keyType)
            )
        return F.transform_values(
            value, lambda _, item: conform(item, source.valueType, target.valueType)
        )
    return value.cast(target)


def fields_as(get: Callable[[str], Column], source: StructType, target: StructType) -> list[Column]:
    """Each field of ``target`` taken from ``source`` (``get(name)`` gives a field of it),
    matching names without case; fields ``source`` lacks are null, and fields whose names fold
    alike in ``source`` (written by an earlier version) are coalesced."""
    by_name: dict[str, list[StructField]] = {}
    for field in source.fields:
        by_name.setdefault(contract.fold(field.name), []).append(field)
    columns = []
    for field in target.fields:
        candidates = [
            conform(get(match.name), match.dataType, field.dataType)
            for match in by_name.get(field.name, [])
        ]
        if not candidates:
            column = F.lit(None).cast(field.dataType)
        else:
            column = candidates[0] if len(candidates) == 1 else F.coalesce(*candidates)
        columns.append(column.alias(field.name))
    return columns
