"""One-line CLI errors: what went wrong and what to do, never a traceback.

A command raises :class:`CliProblem` (or lets a known database error escape); ``main()`` prints
``flowpin: <message>`` on stderr and exits 2. ``FLOWPIN_DEBUG=1`` shows the traceback of an
unexpected error for whoever needs it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

SUPPORTED = ("sqlite", "postgresql")
URL_HELP = "use sqlite:///path/to/flowpin.db or postgresql://user@host:5432/dbname"


class CliProblem(Exception):
    """A mistake the user can fix; its message is one line that says how."""


def shown_url(url: str) -> str:
    """``url`` with any password hidden (safe to print)."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def check_database_url(url: str) -> None:
    """Refuse a URL flowpin cannot open before anything connects."""
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError:
        raise CliProblem(f"--db {url!r} is not a database URL: {URL_HELP}") from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise CliProblem(
            f"--db {shown_url(url)!r}: flowpin runs on SQLite or PostgreSQL, "
            f"not {parsed.get_backend_name()}; {URL_HELP}"
        )


def describe_database_error(url: str, exc: BaseException) -> str:
    """One line for a database that cannot be opened."""
    where = shown_url(url)
    text = str(getattr(exc, "orig", None) or exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), text)
    if "does not exist" in text and "database" in text:
        name = sa.make_url(url).database
        return (
            f"database {name!r} does not exist on the server of --db {where}: "
            f"create it (createdb {name}) or point --db at one that exists"
        )
    if "password authentication failed" in text or "no password supplied" in text:
        return f"the server of --db {where} refused the credentials: {first}"
    if any(
        marker in text
        for marker in ("Connection refused", "timeout expired", "could not translate host")
    ):
        return f"no database server answers at --db {where}: start it or fix the URL ({first})"
    if "unable to open database file" in text:
        return (
            f"cannot open the SQLite file of --db {where}: check the folder exists and is writable"
        )
    return f"cannot open the database --db {where}: {first}"
