"""Glue (Hive) column types, parsed the way Glue, Athena and Firehose's conversion read them.

A Glue table accepts any string as a column type; a wrong one surfaces later, when Athena
queries the table or Firehose converts records to Parquet or ORC and every record fails.
:func:`glue_type_problem` checks a type up front:

- primitives: ``boolean``, ``tinyint``, ``smallint``, ``int``, ``bigint``, ``float``,
  ``double``, ``string``, ``binary``, ``date``, ``timestamp``;
- ``decimal`` or ``decimal(p)`` or ``decimal(p,s)`` with precision 1-38 and scale 0-p;
  ``varchar(n)`` with n 1-65535; ``char(n)`` with n 1-255;
- ``array<T>``, ``map<K,V>`` with a primitive key, ``struct<name:T,...>`` with unique
  field names, nested to any depth.
"""

from __future__ import annotations

import re

PRIMITIVE_TYPES: frozenset[str] = frozenset(
    {
        "boolean",
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "string",
        "binary",
        "date",
        "timestamp",
    }
)
MAX_DECIMAL_PRECISION = 38
MAX_VARCHAR_LENGTH = 65_535
MAX_CHAR_LENGTH = 255

GLUE_TYPES_ALLOWED = (
    f"a Glue type: {', '.join(sorted(PRIMITIVE_TYPES))}, decimal(p,s) (p 1-38, s 0-p), "
    "varchar(n) (1-65535), char(n) (1-255), array<T>, map<primitive,T> or "
    "struct<name:T,...>"
)

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")


class _Invalid(Exception):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise _Invalid(f"unexpected {text[position:].strip()[:10]!r}")
            self.tokens.append(match.group(1))
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str) -> str:
        """The next token, which must be ``expected`` if that is punctuation (``<``, ``:``);
        otherwise ``expected`` only names what is wanted (``"a type"``)."""
        token = self.peek()
        if token is None:
            wanted = repr(expected) if len(expected) == 1 else expected
            raise _Invalid(f"it ends early (expected {wanted})")
        if len(expected) == 1 and token != expected:
            raise _Invalid(f"expected {expected!r}, found {token!r}")
        self.index += 1
        return token

    def number(self) -> int:
        token = self.take("a number")
        if not token.isdigit():
            raise _Invalid(f"expected a number, found {token!r}")
        return int(token)

    def type(self) -> str:
        name = self.take("a type").lower()
        if name in PRIMITIVE_TYPES:
            return name
        if name == "decimal":
            return self.decimal()
        if name in ("varchar", "char"):
            limit = MAX_VARCHAR_LENGTH if name == "varchar" else MAX_CHAR_LENGTH
            self.take("(")
            length = self.number()
            self.take(")")
            if not 1 <= length <= limit:
                raise _Invalid(f"{name} length {length} is not 1 to {limit}")
            return name
        if name == "array":
            self.take("<")
            self.type()
            self.take(">")
            return name
        if name == "map":
            self.take("<")
            key = self.type()
            if key not in PRIMITIVE_TYPES and key not in ("decimal", "varchar", "char"):
                raise _Invalid(f"a map key must be a primitive type, not {key}")
            self.take(",")
            self.type()
            self.take(">")
            return name
        if name == "struct":
            return self.struct()
        raise _Invalid(f"{name!r} is not a type")

    def decimal(self) -> str:
        if self.peek() != "(":
            return "decimal"
        self.take("(")
        precision = self.number()
        scale = 0
        if self.peek() == ",":
            self.take(",")
            scale = self.number()
        self.take(")")
        if not 1 <= precision <= MAX_DECIMAL_PRECISION:
            raise _Invalid(f"decimal precision {precision} is not 1 to {MAX_DECIMAL_PRECISION}")
        if scale > precision:
            raise _Invalid(f"decimal scale {scale} is more than its precision {precision}")
        return "decimal"

    def struct(self) -> str:
        self.take("<")
        names: set[str] = set()
        while True:
            field = self.take("a field name")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
                raise _Invalid(f"{field!r} is not a field name")
            if field.lower() in names:
                raise _Invalid(f"struct field {field!r} appears twice")
            names.add(field.lower())
            self.take(":")
            self.type()
            if self.peek() == ",":
                self.take(",")
                continue
            self.take(">")
            return "struct"


def glue_type_problem(text: object) -> str | None:
    """Why ``text`` is not a Glue column type (see the module), or ``None`` if it is."""
    if not isinstance(text, str) or not text.strip():
        return "an empty type"
    try:
        parser = _Parser(text)
        parser.type()
        if parser.peek() is not None:
            raise _Invalid(f"unexpected {parser.peek()!r} after the type")
    except _Invalid as error:
        return str(error)
    return None
