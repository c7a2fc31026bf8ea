"""Plain-text email over SMTP (no Flask): build a message, hand it to the configured server.

Settings come from the environment (quiz/config.py, README "Configuration"). With no
``SMTP_HOST`` there are no SMTP settings at all and callers keep messages in the outbox table
instead. STARTTLS is on unless ``SMTP_STARTTLS=0``: a server that does not offer it is refused
(the send fails and the message stays in the outbox), so nothing goes out in cleartext by
accident. The server's certificate is checked against the system's trusted authorities.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "Rounds <rounds@localhost>"
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print the password (tracebacks, logs)
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"starttls={self.starttls}, sender={self.sender!r}, timeout={self.timeout})"
        )


def settings_from_config(config: Mapping[str, Any]) -> SmtpSettings | None:
    """SMTP settings from the app config (from_environment's keys); None when SMTP_HOST is unset."""
    host = (config.get("SMTP_HOST") or "").strip()
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=int(config.get("SMTP_PORT") or 587),
        username=config.get("SMTP_USERNAME") or None,
        password=config.get("SMTP_PASSWORD") or None,
        starttls=bool(config.get("SMTP_STARTTLS", True)),
        sender=config.get("SMTP_FROM") or "Rounds <rounds@localhost>",
        timeout=float(config.get("SMTP_TIMEOUT_SECONDS") or 30),
    )


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def build(
    *,
    sender: str,
    to_address: str,
    to_name: str | None,
    subject: str,
    body: str,
    message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """A plain-text message. ``message_id`` should be stable for one logical message, so that a
    copy sent twice (a crash between hand-over and bookkeeping) is recognisably the same one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((to_name, to_address)) if to_name else to_address
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    message["X-Auto-Response-Suppress"] = "All"  # the same, for Exchange
    message.set_content(body)
    return message


def send(message: EmailMessage, settings: SmtpSettings) -> None:
    """Hand one message to the SMTP server, or raise (smtplib.SMTPException or OSError)."""
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.ehlo()
        if settings.starttls:
            if not smtp.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    f"{settings.host}:{settings.port} does not offer STARTTLS; refusing to send in "
                    "cleartext (set SMTP_STARTTLS=0 only for a relay on a trusted network)"
                )
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message)


#: What a send can fail with: the server's refusals, the network, and a message that cannot be
#: encoded. The message then stays in the outbox with ``describe_failure``'s line.
FAILURES = (smtplib.SMTPException, OSError, ValueError, UnicodeError)


def describe_failure(exc: BaseException) -> str:
    """What went wrong sending a message, in one line for the outbox (the server's own words)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        message = f"{type(exc).__name__}: {exc.smtp_code} {reply}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{rcpt}: {code} {reply.decode('utf-8', 'replace') if isinstance(reply, bytes) else reply}"
            for rcpt, (code, reply) in exc.recipients.items()
        )
        message = f"{type(exc).__name__}: {refused}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return message[:2000]
