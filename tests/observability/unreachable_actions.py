"""An action whose server never answers: every call fails with a retryable error."""

from pydantic import BaseModel

from flowpin import action
from flowpin.registry.actions import ActionError


class Mail(BaseModel):
    to: str


@action("obs.send", version=1, effect="idempotent")
def send(mail: Mail) -> Mail:
    raise ActionError("cannot reach smtp.invalid:25 (connection refused)", retryable=True)
