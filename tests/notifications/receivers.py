"""Local receivers on loopback: an SMTP server (aiosmtpd) and an HTTP server that checks webhook signatures."""
import contextlib
import email
import hashlib
import hmac
import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.browser import free_port


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


@contextlib.contextmanager
def smtp_server(settings):
    """Run an SMTP server on loopback and point Django's email at it; yield its list of (recipients, message)."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    try:
        yield inbox.messages
    finally:
        controller.stop()


@dataclass
class Received:
    headers: dict
    body: bytes
    signed: bool  # the signature header matched the body under the secret the receiver holds

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """What the webhook receiver got, and what it answers next (status codes, then 200)."""

    def __init__(self):
        self.secret = ""
        self.answers: list[int] = []
        self.received: list[Received] = []
        self.url = ""


@contextlib.contextmanager
def webhook_receiver(tls: ssl.SSLContext | None = None):
    """Run an HTTP server (HTTPS with a tls context) on loopback that records each POST and checks its
    HMAC-SHA256 signature."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(expected, self.headers.get("X-Batchsite-Signature-256", ""))
            receiver.received.append(Received(headers=dict(self.headers), body=body, signed=signed))
            code = receiver.answers.pop(0) if receiver.answers else (200 if signed else 401)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}/hooks/batchsite"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
