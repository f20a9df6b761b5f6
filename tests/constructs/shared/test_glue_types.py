"""Glue column types: what Glue, Athena and Firehose's format conversion accept."""

from __future__ import annotations

import pytest

from ml_blueprints.constructs.shared.glue_types import glue_type_problem


@pytest.mark.parametrize(
    "text",
    [
        "string",
        "BIGINT",
        "timestamp",
        "decimal",
        "decimal(10)",
        "decimal(38,0)",
        "decimal(10, 2)",
        "varchar(65535)",
        "char(1)",
        "array<string>",
        "map<string,array<int>>",
        "map<decimal(10,2),string>",
        "struct<a:int,b:array<struct<c:string,d:map<string,double>>>>",
        " struct< a : int , b : string > ",
    ],
)
def test_types_glue_accepts(text: str) -> None:
    assert glue_type_problem(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("text", "'text' is not a type"),
        ("integer", "'integer' is not a type"),
        ("array<strin>", "'strin' is not a type"),
        ("array<string", "it ends early (expected '>')"),
        ("array<string>>", "unexpected '>' after the type"),
        ("decimal(39,2)", "decimal precision 39 is not 1 to 38"),
        ("decimal(5,6)", "decimal scale 6 is more than its precision 5"),
        ("varchar(0)", "varchar length 0 is not 1 to 65535"),
        ("char(256)", "char length 256 is not 1 to 255"),
        ("varchar", "it ends early (expected '(')"),
        ("map<array<int>,string>", "a map key must be a primitive type, not array"),
        ("struct<a:int,a:string>", "struct field 'a' appears twice"),
        ("struct<a int>", "expected ':', found 'int'"),
        ("struct<>", "'>' is not a field name"),
        ("", "an empty type"),
        ("string;", "unexpected ';'"),
    ],
)
def test_types_glue_refuses_name_the_problem(text: str, problem: str) -> None:
    assert glue_type_problem(text) == problem
