"""Parts shared by a test module's validation tests, and a fresh scope for each construct.

A test that only checks that a construct refuses bad props spends most of its time building
what the construct needs (a stack, a network, a lake: about 0.1 s of jsii calls). Such tests
share one set of parts per module (a module fixture) and build the construct under test in
a scope of its own, so that no two tests clash on a construct id. A construct that raises may
leave half of itself in its scope; nothing reads it, as these stacks are never synthesized.
A test that synthesizes builds its own parts.
"""

from __future__ import annotations

import itertools

import aws_cdk as cdk
from constructs import Construct

_numbers = itertools.count(1)


def fresh_scope(anchor: Construct) -> Construct:
    """A new, uniquely named scope in the stack of ``anchor``."""
    return Construct(cdk.Stack.of(anchor), f"Case{next(_numbers)}")
