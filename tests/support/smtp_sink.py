#!/usr/bin/env python3
"""An SMTP server for tests: aiosmtpd on loopback, writing what it accepts
to a folder.

    smtp_sink.py DIR [--mode accept|tempfail:N|reject]

Prints the port it listens on as its first line of output. For each message
accepted it writes N.eml (the raw message) and N.json (envelope, headers and
attachments, parsed with Python's email package, each attachment also saved
as N-K.bin). Modes: `accept` takes everything; `tempfail:N` answers the first
N messages with 451 and accepts the rest; `reject` answers every message
with 550. AUTH PLAIN and LOGIN are offered without TLS and take any
credentials; each record lists the logins seen so far.
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, folder, mode):
        self.folder = folder
        self.mode = mode
        self.seen = 0
        self.saved = 0
        self.logins = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """Takes any credentials and remembers who signed in."""
        if isinstance(auth_data, LoginPassword):
            self.logins.append([auth_data.login.decode(), auth_data.password.decode()])
        return AuthResult(success=True)

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.mode == "reject":
            return "550 5.7.1 Message rejected by policy: recipient unknown"
        if self.mode.startswith("tempfail:") and self.seen <= int(self.mode.split(":")[1]):
            return "451 4.3.0 Mailbox busy, try again later"
        self.saved += 1
        n = self.saved
        raw = envelope.original_content or envelope.content
        with open(os.path.join(self.folder, f"{n}.eml.part"), "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        attachments = []
        for k, part in enumerate(msg.iter_attachments()):
            data = part.get_payload(decode=True) or b""
            path = os.path.join(self.folder, f"{n}-{k}.bin")
            with open(path, "wb") as f:
                f.write(data)
            attachments.append({
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(data),
                "path": path,
            })
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "message_id": str(msg["message-id"]),
            "text": body.get_content() if body is not None else "",
            "attachments": attachments,
            "logins": self.logins,
        }
        with open(os.path.join(self.folder, f"{n}.json.part"), "w") as f:
            json.dump(record, f)
        # Renamed last, so a reader never sees half a message.
        os.rename(os.path.join(self.folder, f"{n}.eml.part"), os.path.join(self.folder, f"{n}.eml"))
        os.rename(os.path.join(self.folder, f"{n}.json.part"), os.path.join(self.folder, f"{n}.json"))
        return "250 2.0.0 Message accepted for delivery"


async def serve(folder, mode):
    os.makedirs(folder, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = Sink(folder, mode)
    server = await loop.create_server(lambda: SMTP(
        handler, hostname="sink.test", authenticator=handler.authenticate, auth_require_tls=False), host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Exit too when the test that started us goes away (stdin closes).
    loop.add_reader(sys.stdin, lambda: stop.set() if not sys.stdin.buffer.read1(1) else None)
    await stop.wait()
    server.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--mode", default="accept")
    args = ap.parse_args()
    asyncio.run(serve(args.folder, args.mode))


if __name__ == "__main__":
    main()
