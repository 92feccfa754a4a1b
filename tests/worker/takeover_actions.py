"""A side effect for the take-over test: the first call hangs until released (its worker stops
meanwhile, as if it died mid-call); later calls take a moment, like a remote call."""

from __future__ import annotations

import threading
import time

from pydantic import BaseModel

from flowpin.registry.actions import ActionContext, action

CALLS: list[str] = []
RELEASE = threading.Event()


class Nothing(BaseModel):
    pass


@action("takeover.effect", version=1, effect="side_effect")
def effect(data: Nothing, ctx: ActionContext) -> Nothing:
    CALLS.append(ctx.idempotency_key)
    if len(CALLS) == 1:
        RELEASE.wait(10)
    else:
        time.sleep(0.2)  # the point: a window in which a third copy of the call would show
    return Nothing()
