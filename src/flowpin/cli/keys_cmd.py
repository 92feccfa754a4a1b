"""``flowpin keys create|list``: API keys per tenant (SPEC §8). A new key is printed once; only
its sha256 is stored."""

from __future__ import annotations

from typing import Annotated

import typer

from flowpin.cli.runtime_cmds import DbOption, emit, fail, open_engine
from flowpin.engine.tenancy import ROLES
from flowpin.errors import FlowpinError

TenantOption = Annotated[
    str, typer.Option("--tenant", metavar="TENANT", help="The tenant whose keys to use.")
]


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API keys (per tenant, with a role).", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        tenant: TenantOption = "default",
        role: Annotated[
            str, typer.Option("--role", metavar="ROLE", help="One of: " + ", ".join(ROLES) + ".")
        ] = "viewer",
        name: Annotated[
            str | None, typer.Option("--name", metavar="NAME", help="A label for the key.")
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Create a key for TENANT with ROLE and print it (it cannot be shown again)."""
        try:
            with open_engine(db, None, needs_actions=False, tenant=tenant) as engine:
                emit(engine.create_api_key(role, name=name).to_dict())
        except FlowpinError as exc:
            fail(exc)

    @keys_app.command("list")
    def keys_list(tenant: TenantOption = "default", db: DbOption = None) -> None:
        """The keys of TENANT (ids, roles; never the keys themselves)."""
        with open_engine(db, None, needs_actions=False, tenant=tenant) as engine:
            emit({"tenant": tenant, "keys": engine.list_api_keys()})

    @keys_app.command("revoke")
    def keys_revoke(
        key_id: Annotated[
            str, typer.Argument(metavar="KEY_ID", help="The keyId printed by create/list.")
        ],
        tenant: TenantOption = "default",
        db: DbOption = None,
    ) -> None:
        """Revoke a key: it authenticates nothing from now on."""
        try:
            with open_engine(db, None, needs_actions=False, tenant=tenant) as engine:
                engine.revoke_api_key(key_id)
                emit({"tenant": tenant, "keyId": key_id, "revoked": True})
        except FlowpinError as exc:
            fail(exc)
