"""What the layers above the engine may ask of a failed call: whether the database could not
be reached (a restart, a network blip), which is no defect of flowpin's and may be tried again,
as opposed to an error in the request or in flowpin itself."""

from __future__ import annotations

from flowpin.store.database import lost_connection


def database_unreachable(exc: BaseException) -> bool:
    return lost_connection(exc)
