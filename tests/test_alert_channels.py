"""Every channel delivers to a real local peer, and hostile review text arrives inert in each format."""
import datetime
import email
import ipaddress
import json
import ssl
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts.channels import DeliveryError, build_channels
from alerts.channels.webhook import verify
from alerts.message import Message
from foundations.ports import free_port
from tests.support.receivers import WebhookReceiver

HOSTILE_BODY = ('<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [click](https://evil.example) '
                '<!channel> [toall] [To:123]\nSubject: injected')


def alert(n=1, body=HOSTILE_BODY, title="<b>Worst</b> _ever_"):
    return {"alert_id": f"a{n}", "rule": "neg", "rule_type": "negative_brand", "channels": ["x"],
            "headline": "Negative review of Sony on shop.example", "reason": "rating 1/5", "brands": ["Sony"],
            "doc_id": f"d{n}", "site": "shop.example", "url": f"https://shop.example/r/{n}?a=1&b=<2>",
            "title": title, "excerpt": body, "rating": 1.0, "rating_best": 5.0, "sentiment": "negative",
            "sentiment_score": 0.97, "language": "en", "fetched_at": "2026-11-24T00:00:00.000+00:00"}


def channel(config):
    return build_channels({"x": config})["x"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, so TLS is tested for real, verification included."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def test_email_over_starttls_with_login_arrives_escaped(certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == b"pr" and auth_data.password == b"s3cret", handled=False)

    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        mail = channel({"type": "email", "host": "127.0.0.1", "port": port, "ca_file": str(cert),
                        "username": "pr", "password": "s3cret", "from": "alerts@kuchikomi.example",
                        "to": ["pr@brand.example", "oncall@brand.example"]})
        mail.send(Message([alert(1), alert(2)]))
        with pytest.raises(DeliveryError, match=r"SMTP 535"):
            channel({"type": "email", "host": "127.0.0.1", "port": port, "ca_file": str(cert), "username": "pr",
                     "password": "wrong", "from": "a@b.example", "to": ["c@d.example"], "timeout": 5}
                    ).send(Message([alert()]))
    finally:
        controller.stop()
    [(recipients, message)] = mailbox.messages
    assert recipients == ["pr@brand.example", "oncall@brand.example"]
    assert message["Subject"] == "[kuchikomi] 2 alerts (neg): Negative review of Sony on shop.example, and 1 more"
    assert "injected" not in message["Subject"] and message["X-Injected"] is None
    text = message.get_body(("plain",)).get_content()
    assert "<script>alert(1)</script>" in text and "https://shop.example/r/2?a=1&b=<2>" in text
    page = message.get_body(("html",)).get_content()
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<a href="https://shop.example/r/1?a=1&amp;b=&lt;2&gt;">' in page


def test_email_to_a_server_that_is_down_is_a_delivery_error():
    mail = channel({"type": "email", "host": "127.0.0.1", "port": free_port(), "security": "none",
                    "from": "a@b.example", "to": ["c@d.example"], "attempts": 2, "backoff": 0})
    with pytest.raises(DeliveryError, match=r"email x \(127.0.0.1:\d+\): ConnectionRefusedError"):
        mail.send(Message([alert()]))


def test_webhook_is_signed_so_the_receiver_can_verify_it():
    receiver = WebhookReceiver()
    try:
        secret = "a-long-shared-secret-0123"
        channel({"type": "webhook", "url": receiver.url, "secret": secret}).send(Message([alert()]))
        [(headers, body, _)] = receiver.raw
        assert verify(secret, headers, body)
        assert not verify(secret, headers, body.replace(b"Sony", b"Sonny"))  # tampered
        assert not verify("another-secret-0123456", headers, body)
        assert json.loads(body)["alerts"][0]["excerpt"] == HOSTILE_BODY  # JSON carries the text as data
    finally:
        receiver.close()


def test_slack_message_shows_crawled_text_only_as_plain_text():
    receiver = WebhookReceiver()
    try:
        channel({"type": "slack", "webhook_url": receiver.url}).send(Message([alert()]))
    finally:
        receiver.close()
    [payload] = receiver.received
    assert payload["unfurl_links"] is False
    crawled = [b for b in payload["blocks"] if b["type"] == "section"]
    assert crawled[0]["text"]["type"] == "plain_text" and "<!channel>" in crawled[0]["text"]["text"]
    links = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert links == ["<https://shop.example/r/1?a=1&amp;b=%3C2%3E|https://shop.example/r/1?a=1&amp;b=&lt;2&gt;>"]
    mrkdwn = [e["text"] for b in payload["blocks"] for e in b.get("elements", []) if e["type"] == "mrkdwn"]
    assert not any("<!channel>" in text or "<script>" in text for text in mrkdwn)


class TlsReceiver(WebhookReceiver):
    """The webhook receiver behind TLS (Teams workflows are https only)."""

    def __init__(self, certificate):
        super().__init__()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]


def test_teams_through_apprise_gets_markdown_escaped_text(certificate):
    receiver = TlsReceiver(certificate)
    try:
        teams = channel({"type": "apprise",
                         "urls": [f"workflows://127.0.0.1:{receiver.port}/wf123/sig456?verify=no"]})
        teams.send(Message([alert()]))
    finally:
        receiver.close()
    [card] = receiver.received
    text = json.dumps(card, ensure_ascii=False)
    assert "adaptive" in text.lower()
    assert r"\\*\\*bold\\*\\*" in text and r"\\[click\\]\\(https://evil" in text  # Markdown shown, not run
    assert "Negative review of Sony on shop.example" in text


def test_apprise_json_service_and_a_failing_one():
    receiver = WebhookReceiver()
    try:
        channel({"type": "apprise", "urls": [receiver.url.replace("http://", "json://")]}).send(Message([alert()]))
    finally:
        receiver.close()
    [payload] = receiver.received
    assert payload["title"] == "Negative review of Sony on shop.example"
    assert "<script>alert(1)</script>" in payload["message"]
    down = channel({"type": "apprise", "urls": [f"json://127.0.0.1:{free_port()}/hook"]})
    with pytest.raises(DeliveryError, match="apprise x"):
        down.send(Message([alert()]))


class ChatworkApi:
    def __init__(self):
        self.posts = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                api.posts.append((self.path, self.headers.get("X-ChatWorkToken"), parse_qs(body)["body"][0]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"message_id": "1"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2"


def test_chatwork_message_cannot_mention_the_room():
    api = ChatworkApi()
    try:
        channel({"type": "chatwork", "token": "tok", "room_id": 42, "api_base": api.url}).send(Message([alert()]))
    finally:
        api.server.shutdown()
    [(path, token, body)] = api.posts
    assert path == "/v2/rooms/42/messages" and token == "tok"
    assert body.startswith("[info][title]Negative review of Sony") and body.endswith("[/info]")
    assert "[toall]" not in body and "[To:123]" not in body and "［toall］" in body


def test_jsonl_channel_appends_one_object_per_message(tmp_path):
    jsonl = build_channels({"f": {"type": "jsonl", "path": "out/alerts.jsonl"}}, base_dir=tmp_path)["f"]
    jsonl.send(Message([alert(1)]))
    jsonl.send(Message([alert(2), alert(3)]))
    lines = [json.loads(line) for line in (tmp_path / "out/alerts.jsonl").read_text().splitlines()]
    assert [line["count"] for line in lines] == [1, 2] and lines[0]["alerts"][0]["excerpt"] == HOSTILE_BODY
