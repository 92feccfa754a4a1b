"""Demo actions for ``order-approval.json``.

Register them with ``--actions examples.actions`` (from the repository root) or
``FLOWPIN_ACTIONS=examples.actions``; in Python, ``engine.register(examples.actions)``.
They talk to no real system: stock, payments and email are simulated, deterministically.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from flowpin.registry import ActionContext, ActionError, action


class OrderLine(BaseModel):
    sku: str
    quantity: int = Field(ge=1)


class StockCheckIn(BaseModel):
    items: list[OrderLine]


class StockCheckOut(BaseModel):
    available: bool
    missing: list[str]


OUT_OF_STOCK = {"SKU-GONE"}


@action("inventory.check_stock", version=1, effect="none")
def check_stock(input: StockCheckIn) -> StockCheckOut:
    """Check that every line of an order is in stock."""
    missing = [line.sku for line in input.items if line.sku in OUT_OF_STOCK]
    return StockCheckOut(available=not missing, missing=missing)


class ReserveIn(BaseModel):
    order_id: str = Field(alias="orderId")
    sku: str
    quantity: int = Field(ge=1)


class ReserveOut(BaseModel):
    reservationId: str  # output fields are named as the JSON the workflow reads


@action("inventory.reserve", version=1, effect="idempotent", retry={"maxAttempts": 3})
def reserve(input: ReserveIn, ctx: ActionContext) -> ReserveOut:
    """Reserve stock for one order line (idempotent: the same key reserves once)."""
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:10]
    return ReserveOut(reservationId=f"R-{input.sku}-{digest}")


class ChargeIn(BaseModel):
    order_id: str = Field(alias="orderId")
    amount_cents: int = Field(alias="amountCents", ge=1)
    currency: str = Field(min_length=3, max_length=3)


class ChargeOut(BaseModel):
    chargeId: str


CARD_LIMIT_CENTS = 500_000


@action(
    "payments.charge",
    version=1,
    effect="side_effect",
    retry={"maxAttempts": 4, "backoffMs": 500},
    retryable={ConnectionError, TimeoutError},
)
async def charge(input: ChargeIn, ctx: ActionContext) -> ChargeOut:
    """Charge the customer's card (forwarding the idempotency key, as a real gateway allows)."""
    if input.amount_cents > CARD_LIMIT_CENTS:
        raise ActionError(
            "card declined: over limit", data={"limitCents": CARD_LIMIT_CENTS}, retryable=False
        )
    ctx.log.info("charging %s %s", input.amount_cents, input.currency)
    return ChargeOut(chargeId=f"ch_{input.order_id}_{ctx.attempt}")


class EmailIn(BaseModel):
    to: str
    subject: str
    body: str = ""


class EmailOut(BaseModel):
    messageId: str


@action("notify.email", version=1, effect="side_effect")
def send_email(input: EmailIn, ctx: ActionContext) -> EmailOut:
    """Send an email (simulated: the message id derives from the idempotency key)."""
    return EmailOut(messageId=f"<{ctx.idempotency_key[:16]}@example.invalid>")
