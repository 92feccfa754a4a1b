"""A module of actions for registry tests (imported by name)."""

from pydantic import BaseModel

from flowpin.registry import ActionContext, action, schema
from flowpin.registry.actions import action as action_again  # an alias must not register twice


class PingIn(BaseModel):
    host: str


class PingOut(BaseModel):
    ok: bool


@schema("payload.Ping.v1")
class PingPayload(BaseModel):
    """The payload of a ping workflow."""

    host: str


@action("net.ping", version=1, effect="none")
def ping(input: PingIn, ctx: ActionContext) -> PingOut:
    """Ping a host."""
    return PingOut(ok=bool(input.host))


@action_again("net.ping", version=2, effect="none")
async def ping_v2(input: PingIn) -> PingOut:
    return PingOut(ok=True)


pong = ping  # a second name for the same function
