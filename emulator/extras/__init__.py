"""CloudFormation handlers MiniStack lacks, by service, registered by
:mod:`emulator.ministack_extras` (which runs them with the emulator's own interpreter).

Each module exposes ``HANDLERS`` (resource type -> ``create``/``update``/``delete``, the shape
of MiniStack's ``provisioners._RESOURCE_HANDLERS``) and, where it completes one of MiniStack's
own handlers, ``WRAPPERS`` (resource type -> a function of that handler returning the
completed one). Every handler calls MiniStack's implementation of the service API, so what a
stack creates is really recorded and answered by the service's describe calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = dict[str, Any]


def call(function: Callable[[dict[str, Any]], tuple[int, Any, bytes]], request: dict, what: str):
    """One call of a MiniStack service function; its response body, or ``ValueError`` with
    the service's error (which CloudFormation reports as the resource's failure reason)."""
    status, _headers, body = function(request)
    if status >= 400:
        text = body.decode() if isinstance(body, bytes) else str(body)
        raise ValueError(f"{what} failed: {text}")
    return body


def custom_name_replacement(name: str) -> ValueError:
    """What CloudFormation answers when an update would replace a resource whose name the
    template sets (two resources cannot have that name at once)."""
    return ValueError(
        "CloudFormation cannot update a stack when a custom-named resource requires "
        f"replacing. Rename {name} and update the stack again."
    )
