"""An SMTP server for tests (aiosmtpd): every message it takes is written, decoded, to a
JSON file in OUTDIR. Modes: plain; starttls (STARTTLS and AUTH required, user/password
from argv); tls (implicit TLS from the first byte).

usage: smtp_sink.py MODE PORT OUTDIR [CERT KEY [USER PASSWORD]]
"""

import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["Subject"]),
            "to": str(msg["To"]),
            "from": str(msg["From"]),
            "message_id": str(msg["Message-ID"]),
            "body": body.get_content() if body is not None else "",
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        name = f"{time.time_ns()}-{os.getpid()}"
        tmp = os.path.join(outdir, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(outdir, f"{name}.json"))
        return "250 OK"


def context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    return ctx


kwargs = {}
if mode == "tls":
    kwargs["ssl_context"] = context()
elif mode == "starttls":
    user, password = sys.argv[6].encode(), sys.argv[7].encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        return AuthResult(success=ok)

    kwargs.update(
        tls_context=context(),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
elif mode != "plain":
    sys.exit(f"unknown mode {mode}")

controller = Controller(Sink(), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
print("ready", flush=True)
try:
    asyncio.new_event_loop().run_forever()
finally:
    controller.stop()
