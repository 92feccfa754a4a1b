"""The draft's revision as an HTTP entity tag: ``GET``/``PUT /draft`` answer ``ETag: "7"``,
and a save or a publish sends it back as ``If-Match`` (or as ``expectedRevision`` in the body),
so two editors never silently overwrite each other (optimistic concurrency, RFC 9110 §13.1.1)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from flowpin.errors import FlowpinError

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The draft revision this request is based on, as its ETag ("7").',
    ),
]

_TAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


class PreconditionRequired(FlowpinError):
    """A save that does not say which revision it was based on (HTTP 428)."""

    code = "draft.precondition_required"


class BadPrecondition(FlowpinError):
    code = "draft.bad_precondition"


def etag(revision: int) -> str:
    return f'"{revision}"'


def based_on(if_match: str | None, field: int | None) -> int | None:
    """The revision a request was based on, from ``If-Match`` or the body field; they must
    agree when both are given. ``None``: the request named none."""
    header: int | None = None
    if if_match is not None:
        found = _TAG.match(if_match)
        if found is None:
            raise BadPrecondition(
                f'If-Match must be one draft ETag such as "7", not {if_match!r}',
                details={"ifMatch": if_match},
            )
        header = int(found.group(1))
    if header is not None and field is not None and header != field:
        raise BadPrecondition(
            f"If-Match ({header}) and expectedRevision ({field}) disagree",
            details={"ifMatch": header, "expectedRevision": field},
        )
    return header if header is not None else field
