"""The Alembic lineage builds, on both databases, the schema that ``store.tables`` describes
(the queries are written against the latter; the databases are built by the former), and it
runs down and up again: from any earlier revision, and down to an empty database."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from flowpin.store.database import Database
from flowpin.store.migrate import MIGRATIONS, alembic_config, upgrade
from flowpin.store.tables import metadata

# On SQLite the runs' optional keys stay UNIQUE constraints (migration 0005 changes PostgreSQL
# only): the same rule as the unique indexes the metadata declares, in SQLite's own form.
SQLITE_UNIQUE_KEYS = {
    "uq_runs_workflow_id_idempotency_key",
    "uq_runs_reentry_never_key",
    "uq_runs_active_subject_key",
}


def _differences(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(context, metadata)
    if db.is_sqlite:
        diffs = [d for d in diffs if not _sqlite_unique_key(d)]
    return [d for d in diffs if not _alembic_version(d)]


def _sqlite_unique_key(diff: Any) -> bool:
    return (
        isinstance(diff, tuple)
        and diff[0] in ("add_index", "remove_constraint")
        and diff[1].name in SQLITE_UNIQUE_KEYS
    )


def _alembic_version(diff: Any) -> bool:
    return isinstance(diff, tuple) and getattr(diff[1], "name", None) == "alembic_version"


def test_migrations_build_the_declared_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.upgrade()
        assert _differences(db) == []
    finally:
        db.dispose()


def test_migrations_run_down_and_up_again(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.upgrade()
        config = alembic_config(db)
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        db.upgrade()
        assert _differences(db) == []
    finally:
        db.dispose()


def _revisions() -> list[str]:
    """Every revision of the lineage, oldest first."""
    script = ScriptDirectory(str(MIGRATIONS))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("revision", _revisions()[:-1])
def test_a_database_at_an_earlier_revision_upgrades_to_the_declared_schema(
    db_url: str, revision: str
) -> None:
    """An installation of any earlier release (its database at ``revision``) runs
    ``flowpin db upgrade`` and gets the schema this release's queries are written against."""
    db = Database(db_url)
    try:
        upgrade(db, revision)
        db.upgrade()
        assert _differences(db) == []
    finally:
        db.dispose()


def test_the_lineage_runs_down_to_an_empty_database_and_up_again(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.upgrade()
        config = alembic_config(db)
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.upgrade()
        assert _differences(db) == []
    finally:
        db.dispose()
