"""A small evaluator of AWS IoT SQL (version 2016-03-23) for the shapes the project's topic
rules use, so tests can turn a device's message into what the rule's action receives.

Supported, and nothing else (anything else raises ``NotImplementedError``, so a rule that
grows beyond it fails its test instead of being evaluated wrongly):

- ``SELECT *, <expr> AS <name>, ... FROM '<topic filter>' [WHERE <condition>]``
- expressions: ``topic(n)``, ``newuuid()``, ``timestamp()``, ``'string literals'``, field
  names, ``CASE <expr> WHEN true THEN <expr> ELSE <expr> END``, ``isUndefined(<expr>)``
- conditions: ``<expr> = <expr>``, ``isUndefined(...)``, ``OR``, ``NOT (...)``

The output is ``*`` (the payload's fields) followed by the named items, later keys
replacing earlier ones. The rules are written so that which one IoT lets win does not
change their output; ``tests/constructs/ingestion`` checks that too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

UNDEFINED = object()
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^']*')|(?P<number>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[(),=*]))"
)


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise NotImplementedError(f"cannot read {text[position:]!r}")
        tokens.append(match.group(0).strip())
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected.upper()):
            raise NotImplementedError(f"expected {expected!r}, found {token!r}")
        self.at += 1
        return token

    def expression(self) -> Callable[[dict[str, Any]], Any]:
        token = self.take()
        if token.startswith("'"):
            literal = token[1:-1]
            return lambda env: literal
        if token.isdigit():
            number = int(token)
            return lambda env: number
        if token.upper() == "TRUE":
            return lambda env: True
        if token.upper() == "CASE":
            subject = self.expression()
            self.take("WHEN")
            when = self.expression()
            self.take("THEN")
            then = self.expression()
            self.take("ELSE")
            otherwise = self.expression()
            self.take("END")
            return lambda env: then(env) if subject(env) == when(env) else otherwise(env)
        if self.peek() == "(":
            self.take("(")
            args = []
            while self.peek() != ")":
                args.append(self.expression())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            return _function(token, args)
        name = token
        return lambda env: env["payload"].get(name, UNDEFINED)

    def condition(self) -> Callable[[dict[str, Any]], bool]:
        left = self.term()
        while self.peek() is not None and self.peek().upper() == "OR":  # type: ignore[union-attr]
            self.take("OR")
            right = self.term()
            left = (lambda a, b: lambda env: a(env) or b(env))(left, right)
        return left

    def term(self) -> Callable[[dict[str, Any]], bool]:
        if self.peek() is not None and self.peek().upper() == "NOT":  # type: ignore[union-attr]
            self.take("NOT")
            self.take("(")
            inner = self.condition()
            self.take(")")
            return lambda env: not inner(env)
        left = self.expression()
        if self.peek() == "=":
            self.take("=")
            right = self.expression()
            return lambda env: (
                left(env) is not UNDEFINED
                and right(env) is not UNDEFINED
                and left(env) == right(env)
            )
        return lambda env: bool(left(env))


def _function(name: str, args: list[Callable[[dict[str, Any]], Any]]) -> Callable[..., Any]:
    if name == "topic":
        return lambda env: env["topic"].split("/")[int(args[0](env)) - 1]
    if name == "newuuid" and not args:
        return lambda env: env["uuid"]
    if name == "timestamp" and not args:
        return lambda env: env["now_ms"]
    if name == "isUndefined":
        return lambda env: args[0](env) is UNDEFINED
    raise NotImplementedError(f"function {name}")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches an MQTT filter with ``+`` levels (no ``#``)."""
    levels, parts = topic_filter.split("/"), topic.split("/")
    return len(levels) == len(parts) and all(
        f in ("+", p) for f, p in zip(levels, parts, strict=True)
    )


def evaluate(
    sql: str, topic: str, payload: dict[str, Any], *, now_ms: int, uuid: str
) -> dict[str, Any] | None:
    """What a rule with ``sql`` passes to its actions for ``payload`` published on ``topic``
    (``None`` when the topic does not match or the WHERE clause is false)."""
    match = re.fullmatch(
        r"SELECT (?P<select>.+) FROM '(?P<topic>[^']+)'(?: WHERE (?P<where>.+))?", sql.strip()
    )
    if match is None:
        raise NotImplementedError(sql)
    if not topic_matches(match["topic"], topic):
        return None
    env = {"payload": payload, "topic": topic, "now_ms": now_ms, "uuid": uuid}
    if match["where"]:
        parser = _Parser(_tokens(match["where"]))
        condition = parser.condition()
        if parser.peek() is not None:
            raise NotImplementedError(f"unread: {parser.tokens[parser.at :]}")
        if not condition(env):
            return None
    parser = _Parser(_tokens(match["select"]))
    output: dict[str, Any] = {}
    while parser.peek() is not None:
        if parser.peek() == "*":
            parser.take("*")
            output.update(payload)
        else:
            expression = parser.expression()
            parser.take("AS")
            name = parser.take()
            value = expression(env)
            if value is not UNDEFINED:
                output[name] = value
        if parser.peek() == ",":
            parser.take(",")
    return output
