"""The journeys' actions: ``journeys.send_email@1``, ``journeys.update_contact@1`` and
``journeys.config@1``.

They read and write the contacts table of one Engine's database and send through the example's
SMTP settings, so they cannot be plain module functions. The functions below *declare* each action
(id, effect, retry, pydantic input and output): that is what ``flowpin validate --actions
examples.journeys.actions`` and the designer read. ``JourneyActions(contacts, settings).specs()``
binds the same declarations to a store and settings; ``install(engine)`` registers those.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from examples.binding import bind
from examples.journeys.contacts import ContactNotFound, ContactStore
from examples.journeys.settings import JourneySettings
from pydantic import BaseModel, ConfigDict, Field

from flowpin.registry import ActionContext, ActionError, ActionSpec, action
from flowpin.registry.builtin.email_send import EmailSendInput, email_send


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SendEmailIn(_Input):
    contact_id: str = Field(alias="contactId", min_length=1)
    subject: str = Field(description="Jinja2 template; sees `contact` and `context`'s keys.")
    text_body: str = Field(alias="textBody", description="Jinja2 template of the text part.")
    html_body: str | None = Field(None, alias="htmlBody")
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="More template variables (`contact` is set by the action).",
    )


class SendEmailOut(BaseModel):
    sent: bool
    messageId: str | None = None
    reason: str | None = Field(None, description="Why nothing was sent: unsubscribed, no-contact.")


class UpdateContactIn(_Input):
    contact_id: str = Field(alias="contactId", min_length=1)
    data: dict[str, Any] = Field(description="Merged into the contact's data; null removes a key.")


class UpdateContactOut(BaseModel):
    updated: bool
    data: dict[str, Any] | None = None
    reason: str | None = None


class ConfigIn(_Input):
    pass


class ConfigOut(BaseModel):
    webhookUrl: str | None


SEND_RETRY = {"maxAttempts": 4, "backoffMs": 30_000, "maxDelayMs": 600_000}
"""An unreachable SMTP server or a 4xx reply is retried; the Message-ID stays the same."""


def _unbound(action_id: str) -> ActionError:
    return ActionError(
        f"{action_id} is not bound to a database: install it with "
        "examples.journeys.install(engine)",
        retryable=False,
    )


@action("journeys.send_email", version=1, effect="side_effect", retry=SEND_RETRY)
def send_email(input: SendEmailIn, ctx: ActionContext) -> SendEmailOut:
    """Send a marketing email to a contact, unless it unsubscribed (then send nothing and say
    why). Message-ID comes from the idempotency key, so a retried send is recognisable."""
    raise _unbound("journeys.send_email")


@action(
    "journeys.update_contact",
    version=1,
    effect="idempotent",
    retryable={sa.exc.OperationalError},
    retry={"maxAttempts": 3, "backoffMs": 1_000},
)
def update_contact(input: UpdateContactIn, ctx: ActionContext) -> UpdateContactOut:
    """Merge data into a contact (e.g. the journey's track or outcome)."""
    raise _unbound("journeys.update_contact")


@action("journeys.config", version=1, effect="none")
def config(input: ConfigIn, ctx: ActionContext) -> ConfigOut:
    """The example's configuration a journey may read (the application's webhook URL)."""
    raise _unbound("journeys.config")


DECLARATIONS = (send_email, update_contact, config)


class JourneyActions:
    """The handlers behind the declarations above, for one contact store and one settings."""

    def __init__(self, contacts: ContactStore, settings: JourneySettings) -> None:
        self.contacts = contacts
        self.settings = settings

    def specs(self) -> list[ActionSpec]:
        return bind(DECLARATIONS, self)

    def send_email(self, input: SendEmailIn, ctx: ActionContext) -> SendEmailOut:
        contact = self.contacts.find(ctx.tenant_id, input.contact_id)
        if contact is None:
            return SendEmailOut(sent=False, reason="no-contact")
        if not contact.subscribed:
            ctx.log.info("contact %s unsubscribed: no email", contact.id)
            return SendEmailOut(sent=False, reason="unsubscribed")
        message = EmailSendInput.model_validate(
            {
                "smtp": self.settings.smtp(),
                "from": self.settings.sender,
                "to": [contact.email],
                "subject": input.subject,
                "textBody": input.text_body,
                "htmlBody": input.html_body,
                "context": {**input.context, "contact": contact.template_context()},
                "headers": {"X-Journeys-Contact": contact.id},
                "messageIdDomain": "journeys.flowpin",
            }
        )
        sent = email_send(message, ctx)
        return SendEmailOut(sent=True, messageId=sent.message_id)

    def update_contact(self, input: UpdateContactIn, ctx: ActionContext) -> UpdateContactOut:
        try:
            contact = self.contacts.update(ctx.tenant_id, input.contact_id, data=input.data)
        except ContactNotFound:
            return UpdateContactOut(updated=False, reason="no-contact")
        return UpdateContactOut(updated=True, data=contact.data)

    def config(self, input: ConfigIn, ctx: ActionContext) -> ConfigOut:
        return ConfigOut(webhookUrl=self.settings.webhook_url)
