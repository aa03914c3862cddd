from __future__ import annotations

import html
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerts.channels.errors import DeliveryError
from alerts.channels.http import RETRY_SETTINGS
from alerts.message import Message, aspect_lines, one_line, review_facts

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class EmailChannel:
    """Mail through an SMTP server, STARTTLS by default; a plain-text and an escaped HTML part."""
    type = "email"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["type", "host", "from", "to"],
        "properties": {
            "type": {"const": "email"},
            "host": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "security": {"enum": ["starttls", "ssl", "none"]},
            "username": {"type": "string"},
            "password": {"type": "string"},
            "from": {"type": "string", "pattern": "@"},
            "to": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "@"}},
            "subject_prefix": {"type": "string"},
            "ca_file": {"type": "string", "description": "CA bundle for a server with a private certificate"},
            **RETRY_SETTINGS,
        },
    }

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        self.config = config
        self.security = config.get("security", "starttls")
        self.port = config.get("port", DEFAULT_PORTS[self.security])

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = f"{self.config.get('subject_prefix', '[kuchikomi]')} {message.headline}".strip()
        mail["From"] = self.config["from"]
        mail["To"] = ", ".join(self.config["to"])
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(idstring=message.message_id[:16], domain="kuchikomi.alerts")
        mail["X-Kuchikomi-Message-Id"] = message.message_id
        mail.set_content(message.text())
        mail.add_alternative(render_html(message), subtype="html")
        return mail

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.get("ca_file"))

    def _deliver(self, mail: EmailMessage) -> None:
        timeout = self.config.get("timeout", 30)
        host = self.config["host"]
        if self.security == "ssl":
            server = smtplib.SMTP_SSL(host, self.port, timeout=timeout, context=self._context())
        else:
            server = smtplib.SMTP(host, self.port, timeout=timeout)
        with server:
            if self.security == "starttls":
                server.starttls(context=self._context())
            if self.config.get("username"):
                server.login(self.config["username"], self.config.get("password", ""))
            server.send_message(mail)

    def send(self, message: Message) -> None:
        mail = self.compose(message)
        attempts, backoff = self.config.get("attempts", 3), self.config.get("backoff", 1.0)
        last_error = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                self._deliver(mail)
                return
            except smtplib.SMTPResponseException as exc:
                last_error = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
                if exc.smtp_code >= 500:
                    break  # permanent: bad recipient, refused login...
            except (smtplib.SMTPException, OSError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
        raise DeliveryError(f"email {self.name} ({self.config['host']}:{self.port}): {last_error}")


def render_html(message: Message) -> str:
    """Every crawled value goes through html.escape; links only for http(s) URLs."""
    def e(value) -> str:
        return html.escape(one_line(value), quote=True)

    parts = [f"<h2>{e(message.headline)}</h2>"]
    for alert in message.alerts:
        parts.append(f"<h3>{e(alert.get('headline'))}</h3><p>{e(alert.get('reason'))}</p>")
        if alert.get("stats"):
            rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in alert["stats"].items())
            parts.append(f"<table>{rows}</table>")
        for review in alert.get("reviews", [alert] if alert.get("doc_id") else []):
            url = review.get("url") or ""
            link = (f'<a href="{e(url)}">{e(url)}</a>' if url.startswith(("http://", "https://"))
                    else e(url))
            title = f"<strong>{e(review.get('title'))}</strong>: " if review.get("title") else ""
            aspects = "".join(f"<li>{e(line)}</li>" for line in aspect_lines(review))
            parts.append(f"<blockquote><p>{e(review_facts(review))}</p>"
                         f"<p>{title}{e(review.get('excerpt'))}</p>{f'<ul>{aspects}</ul>' if aspects else ''}"
                         f"<p>{link}</p></blockquote>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"
