"""Reading real messages: MIME structure, charsets, HTML-only bodies, quoted replies and
signatures, reply tokens, attachments and inline images, malformed input."""

from __future__ import annotations

import base64
import hashlib

import pytest
from examples.helpdesk.mail import (
    MalformedEmail,
    find_reply_token,
    html_to_text,
    parse_message,
    strip_reply,
)
from helpdesk_kit import KNOWN_TOKEN, MESSAGES, message


def test_multipart_alternative_prefers_the_text_part_and_decodes_headers() -> None:
    parsed = parse_message(message("new-ticket.eml"))
    assert parsed.message_id == "<20261116093012.4411@mail.acme.test>"
    assert (parsed.sender_name, parsed.sender_email) == ("Ann Müller", "ann.mueller@acme.test")
    assert parsed.subject == "Kundenportal öffnet nicht mehr"  # RFC 2047 encoded-word
    assert parsed.to == ["support@helpdesk.test"]
    assert "„Fehler 503“" in parsed.text and not parsed.html_only  # quoted-printable UTF-8
    assert parsed.reply.endswith("Können Sie sich das bitte ansehen?")  # greeting and sig gone
    assert "Acme GmbH" in parsed.text and "Acme GmbH" not in parsed.reply
    assert parsed.attachments == [] and parsed.reply_token is None


def test_an_encoded_word_with_a_bare_question_mark_is_decoded() -> None:
    """Some mailers leave ``?`` unencoded in Q-encoded text: policy.default keeps such a word
    as written, email.header reads it."""
    parsed = parse_message(message("bare-question-mark.eml"))
    assert parsed.subject == "Rechnung für November – wo bleibt sie?"
    assert parsed.sender_name == "Jörg Weber"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("=?utf-8?q?Kundenportal_=C3=B6ffnet?=", "Kundenportal öffnet"),
        ("Re:=?utf-8?q?wo_bleibt_sie??= =?UTF-8?B?IEfDvHRl?=", "Re: wo bleibt sie? Güte"),
        ("=?UTF-8?B?S3VuZGVucG9ydGFs", "Kundenportal"),  # cut short at the end
        ("Re: =?utf-8?q?Kundenportal_=C3=B6ff", "Re: Kundenportal öff"),
        ("=?UTF-8?B?S3VuZGVucG9yd", "=?UTF-8?B?S3VuZGVucG9yd"),  # bad base64: as written
        ("Kundenportal =?utf-8", "Kundenportal =?utf-8"),  # not an encoded word
    ],
)
def test_subjects_that_policy_default_leaves_encoded_are_read(written: str, read: str) -> None:
    data = f"From: ann@acme.test\r\nSubject: {written}\r\n\r\nHallo\r\n".encode()
    assert parse_message(data).subject == read


def test_html_only_latin1_becomes_readable_text() -> None:
    parsed = parse_message(message("html-only.eml"))
    assert parsed.html_only
    assert parsed.subject == "Imprimante en panne à l'étage"  # base64 encoded-word, latin-1
    assert parsed.sender_name == "Zoé Lefèvre"
    assert parsed.text == (
        "Bonjour,\n\nl'imprimante du 2e étage affiche « Erreur 42 » depuis ce matin.\n\n"
        "• Modèle : LaserJet 4000\n• Salle : B-201\n\nMerci !\nZoé"
    )
    assert "color" not in parsed.text and "Ticket" not in parsed.text  # style, title skipped


def test_quoted_history_and_signature_are_stripped_but_lists_kept() -> None:
    parsed = parse_message(message("reply-thread-only.eml"))
    assert parsed.reply == "Bei mir tritt der Fehler auch auf, Rechner MUC-17."
    assert "Grüße" in parsed.text  # iso-8859-1 quoted-printable
    text = "Steps:\n- open the app\n- click save\n\nIt crashes.\n\nOn Mon, X wrote:\n> old\n"
    assert strip_reply(text) == "Steps:\n- open the app\n- click save\n\nIt crashes."
    assert strip_reply("> only a quote\n") != ""  # never empties a message


def test_reply_token_in_the_body_in_the_plus_address_or_absent() -> None:
    in_body = parse_message(message("reply-token-body.eml"))
    assert (in_body.reply_token, in_body.token_source) == (KNOWN_TOKEN, "body")
    assert in_body.reply == "Danke, nach dem Neustart geht es wieder!"
    plus = parse_message(message("reply-plus-address.eml"))
    assert (plus.reply_token, plus.token_source) == (KNOWN_TOKEN, "plus-address")
    assert plus.to == ["support+hd-7k2m9q4x1b@helpdesk.test"]  # some servers lowercase it
    assert find_reply_token(["support@x.test"], "Re: HD-ABCDEFGH23", "", None) == (
        "HD-ABCDEFGH23",
        "subject",
    )
    assert find_reply_token([], "no", "HD-SHORT and HD-TOOLONGTOKEN1", None) == (None, None)


def test_attachments_and_inline_images_with_their_metadata() -> None:
    parsed = parse_message(message("attachments.eml"))
    assert parsed.text.startswith("Here is the invoice")  # the body, not an attachment
    image, pdf = parsed.attachments
    assert (image.filename, image.content_type, image.inline) == (
        "screenshot.png",
        "image/png",
        True,
    )
    assert image.content_id == "screenshot.4242@acme.test"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n") and image.size == 69
    assert (pdf.filename, pdf.content_type, pdf.inline) == (
        "Rechnung N° 11.pdf",  # RFC 2231 filename*
        "application/pdf",
        False,
    )
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.size == 125
    assert pdf.describe()["sha256"] == hashlib.sha256(pdf.content).hexdigest()


def test_malformed_message_is_refused_unless_a_person_decided() -> None:
    with pytest.raises(MalformedEmail) as caught:
        parse_message(message("malformed.eml"))
    assert "no sender address" in str(caught.value)
    assert "NoBoundaryInMultipartDefect" in caught.value.defects
    lenient = parse_message(message("malformed.eml"), strict=False)
    assert lenient.subject == "broken"  # "=?utf-8?q?broken": an encoded word cut short
    assert lenient.sender_email == "" and lenient.message_id == "<broken-1@nowhere.invalid>"


def test_a_message_without_message_id_gets_one_from_its_bytes() -> None:
    data = b"From: a@b.test\nTo: support@helpdesk.test\nSubject: hi\n\nhello\n"
    parsed = parse_message(data)
    assert parsed.message_id == f"<{hashlib.sha256(data).hexdigest()}@helpdesk.invalid>"
    assert parse_message(data).message_id == parsed.message_id


def test_html_to_text_keeps_structure() -> None:
    html = "<p>a&amp;b</p><p>c<br>d</p><pre>x  y\nz</pre><table><tr><td>1</td><td>2</td></tr>"
    assert html_to_text(html) == "a&b\n\nc\nd\n\nx  y\nz\n\n1 2"


def test_a_message_that_is_one_file_has_no_text_and_one_attachment() -> None:
    data = (
        b"From: scanner@acme.test\nTo: support@helpdesk.test\nSubject: scan\n"
        b"Message-ID: <scan-1@acme.test>\nMIME-Version: 1.0\nContent-Type: image/png\n"
        b"Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes((MESSAGES / "attachments.eml").read_bytes()[:10])
    )
    parsed = parse_message(data)
    assert parsed.text == "" and parsed.reply == ""
    [only] = parsed.attachments
    assert (only.filename, only.content_type, only.size) == ("part-0.png", "image/png", 10)
