"""A webhook receiver for tests: verifies every POST with the Standard Webhooks reference
library (`standardwebhooks` from PyPI), not with CloudTask's code, and writes what it got
to a JSON file in OUTDIR: the headers' id, whether the signature verified, the payload.

usage: webhook_sink.py PORT OUTDIR SECRET
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

port, outdir, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
hook = Webhook(secret)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = {"id": headers.get("webhook-id"), "path": self.path}
        try:
            record["payload"] = hook.verify(body, headers)
            record["verified"] = True
        except Exception as e:  # the library's WebhookVerificationError, or bad JSON
            record["verified"] = False
            record["error"] = repr(e)
            record["payload"] = None
        name = f"{time.time_ns()}"
        tmp = os.path.join(outdir, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(outdir, f"{name}.json"))
        self.send_response(204 if record["verified"] else 400)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
server.serve_forever()
