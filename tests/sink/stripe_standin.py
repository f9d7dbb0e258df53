#!/usr/bin/env python3
"""A stand-in for Stripe's API for the end-to-end tests (tests/e2e/test_stripe.c).

    stripe_standin.py PORT DIR

Listens on 127.0.0.1:PORT. Every request is appended to DIR/requests.jsonl
(method, path, the headers FlowSend must send, the raw body and its form
fields in order) before it is answered, so a request whose answer never
arrives is recorded too. It answers as Stripe does: customers, Checkout
Sessions and Billing Portal sessions, with Idempotency-Key replay (the same
key gets the same answer), and 401 for any key but sk_test_flowsend.

DIR/mode (read on every request) chooses a misbehaviour: "MODE [PATH-PART]",
applied only to paths holding PATH-PART when given:
  ok              answer normally
  card_error      402 with a card_error object
  invalid_request 400 with an invalid_request_error object
  server_error    500 with an api_error object
  rate_limited    429
  timeout         sleep 3 s before answering (FlowSend gives up first)
  timeout_once    the first request of each Idempotency-Key sleeps, the retry
                  gets the (same) answer
  drop_once       the first request of each key: connection closed unanswered
  huge            a 1 MiB JSON answer
  not_json        200 with an HTML page
  bad_url         200 with a session whose url is not https
"""
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
DIR = sys.argv[2]
LOG = os.path.join(DIR, "requests.jsonl")
MODE = os.path.join(DIR, "mode")
KEY = "sk_test_flowsend"

lock = threading.Lock()
replay = {}        # Idempotency-Key -> (status, body)
seen_keys = set()  # keys whose first request was already misbehaved on


def mode_for(path):
    try:
        with open(MODE) as f:
            words = f.read().split()
    except OSError:
        return "ok"
    if not words:
        return "ok"
    if len(words) > 1 and words[1] not in path:
        return "ok"
    return words[0]


def error(status, type_, message, **extra):
    e = {"type": type_, "message": message}
    e.update(extra)
    return status, json.dumps({"error": e})


def create(path, form):
    fields = dict(form)
    if path == "/v1/customers":
        return 200, json.dumps({"id": "cus_" + secrets.token_hex(7), "object": "customer",
                                "email": fields.get("email"),
                                "metadata": {"user_id": fields.get("metadata[user_id]")}})
    if path == "/v1/checkout/sessions":
        sid = "cs_test_" + secrets.token_hex(12)
        return 200, json.dumps({"id": sid, "object": "checkout.session",
                                "mode": fields.get("mode"), "customer": fields.get("customer"),
                                "client_reference_id": fields.get("client_reference_id"),
                                "url": "https://checkout.stripe.com/c/pay/" + sid + "#fidkdWxOYHwnPyd1blpxYHZxWjA0"})
    if path == "/v1/billing_portal/sessions":
        return 200, json.dumps({"id": "bps_" + secrets.token_hex(8), "object": "billing_portal.session",
                                "customer": fields.get("customer"), "return_url": fields.get("return_url"),
                                "url": "https://billing.stripe.com/p/session/test_" + secrets.token_hex(10)})
    return error(404, "invalid_request_error", "Unrecognized request URL (POST: %s)" % path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(7))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # FlowSend gave up waiting

    def do_GET(self):
        self.answer(200, json.dumps({"standin": "stripe"}))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = urllib.parse.parse_qsl(raw, keep_blank_values=True)
        key = self.headers.get("Idempotency-Key")
        record = {
            "method": "POST", "path": self.path, "raw": raw, "form": form,
            "authorization": self.headers.get("Authorization"),
            "idempotency_key": key,
            "content_type": self.headers.get("Content-Type"),
        }
        mode = mode_for(self.path)
        with lock:
            with open(LOG, "a") as f:
                f.write(json.dumps(record) + "\n")
            first = key not in seen_keys
            seen_keys.add(key)
        if self.headers.get("Authorization") != "Bearer " + KEY:
            return self.answer(*error(401, "invalid_request_error", "Invalid API key provided"))
        if mode == "drop_once" and first:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode == "card_error":
            return self.answer(*error(402, "card_error", "Your card was declined.",
                                      code="card_declined", decline_code="generic_decline"))
        if mode == "invalid_request":
            return self.answer(*error(400, "invalid_request_error", "No such price: 'price_gone'",
                                      param="line_items[0][price]", code="resource_missing"))
        if mode == "server_error":
            return self.answer(*error(500, "api_error", "Something went wrong on Stripe's end."))
        if mode == "rate_limited":
            return self.answer(*error(429, "rate_limit_error", "Too many requests"))
        if mode == "huge":
            return self.answer(200, '{"id":"cs_test_huge","pad":"' + "x" * (1 << 20) + '"}')
        if mode == "not_json":
            return self.answer(200, "<html><body>Bad gateway</body></html>", "text/html")
        if mode == "bad_url":
            return self.answer(200, json.dumps({"id": "cs_test_bad", "url": "javascript:alert(1)"}))
        # Stripe does the work, then the answer is late: the retry with the
        # same key must get the same object, not a second one.
        with lock:
            if key and key in replay:
                status, body = replay[key]
            else:
                status, body = create(self.path, form)
                if key:
                    replay[key] = (status, body)
        if mode == "timeout" or (mode == "timeout_once" and first):
            time.sleep(3)
        self.answer(status, body)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
