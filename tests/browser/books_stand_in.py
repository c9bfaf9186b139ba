"""Stand-in nodes that keep books, for the browser tier: each serves
GET /health (links with the `balance` object of the node's books contract,
src/dashboard/mod.rs), GET /admin/links and POST /admin/links/<id>/limits,
/settle and /fault (`settlement_refused`) as that contract says, on its own
loopback port. Two of them share one link, whose two ends always sum to
zero; the first also has a child link `sender`. A settlement is answered at
once: accepted, or refused when the other end refuses settlements (then the
payer says "settlement refused by peer" until its next settlement).

They let the page's books (the balance at both ends against the limits, the
controls, the settlements list) be driven in a browser before, and apart
from, the nodes' own books: test_dashboard.py runs the same page checks
against these and against the real mesh.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIMIT_KEYS = ("minimum", "maximum", "settleThreshold", "settleTo")
MAX_BODY = 64 * 1024


class End:
    """One end of a link: its books as the node reports them."""

    def __init__(self, committed, limits):
        self.committed = committed
        self.settled_out = 0
        self.settled_in = 0
        self.counts = {"sent": 0, "accepted": 0, "refused": 0, "received": 0}
        self.settlement = "idle"
        self.limits = dict(limits)
        self.refusing = False  # settlements from the peer refused

    def balance(self):
        return {
            "committed": str(self.committed),
            "pendingIncoming": "0",
            "pendingOutgoing": "0",
            "settling": None,
            "settledOut": str(self.settled_out),
            "settledIn": str(self.settled_in),
            "settlement": self.settlement,
            "settlements": dict(self.counts),
            "limits": {k: (None if v is None else str(v)) for k, v in self.limits.items()},
        }


class Books:
    """The books of stand-in nodes `a` and `b` (names) and their link."""

    def __init__(self, a, b, owed=1200):
        limits = {"minimum": None, "maximum": 1_000_000, "settleThreshold": -100_000, "settleTo": 0}
        self.names = (a, b)
        self.lock = threading.Lock()
        # ends[node][link id]; the link id at a node is its peer's name.
        self.ends = {
            a: {b: End(-owed, limits), "sender": End(40, {k: None for k in LIMIT_KEYS})},
            b: {a: End(owed, limits)},
        }

    def peer_end(self, node, link):
        back = self.ends.get(link, {})
        return back.get(node)

    def health(self, node):
        with self.lock:
            links = [
                {"id": link, "relation": "child" if link == "sender" else "peer", "direction": "inbound",
                 "connected": True, "since": "2026-01-01T00:00:00Z", "pendingRequests": 0,
                 "balance": end.balance()}
                for link, end in self.ends[node].items()
            ]
        return {"status": "healthy", "nodeId": node, "ilpAddress": f"g.{node}", "btpServerPort": 1,
                "uptimeSeconds": 1.0, "version": "stand-in", "books": "memory", "links": links}

    def admin_links(self, node):
        with self.lock:
            return {"links": [
                {"id": link, "connected": True, "balance": end.balance(),
                 "fault": {"down": False, "down_until": None, "latency_ms": 0, "jitter_ms": 0, "loss": 0,
                           "loss_mode": "reject", "settlement_refused": end.refusing} if end.refusing else None}
                for link, end in self.ends[node].items()
            ]}

    def act(self, node, link, action, body):
        """An admin action; returns (status, answer)."""
        with self.lock:
            end = self.ends[node].get(link)
            if end is None:
                return 404, {"error": f"no link {link}"}
            if action == "limits":
                for k, v in body.items():
                    if k not in LIMIT_KEYS:
                        return 400, {"error": f"unknown field {k}"}
                    if v is not None and not (isinstance(v, (str, int)) and str(v).lstrip("-").isdigit()):
                        return 400, {"error": f"{k}: an integer or null"}
                    end.limits[k] = None if v is None else int(v)
                return 200, {}
            if action == "fault":
                end.refusing = bool(body.get("settlement_refused", False))
                return 200, {}
            if action == "settle":
                owed = (end.limits["settleTo"] or 0) - end.committed
                if owed <= 0:
                    return 409, {"error": "nothing owed"}
                other = self.peer_end(node, link)
                end.counts["sent"] += 1
                if other is not None and other.refusing:
                    end.counts["refused"] += 1
                    end.settlement = "settlement refused by peer"
                    return 200, {}
                end.counts["accepted"] += 1
                end.committed += owed
                end.settled_out += owed
                end.settlement = "idle"
                if other is not None:
                    other.committed -= owed
                    other.settled_in += owed
                    other.counts["received"] += 1
                return 200, {}
            return 404, {"error": f"unknown action {action}"}


def serve(books, node, token):
    """Serves stand-in `node` on a loopback port of its own, in a thread;
    returns (port, server)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self):
            if self.headers.get("authorization") == f"Bearer {token}":
                return True
            self.answer(401, {"error": "token"})
            return False

        def do_GET(self):
            if self.path == "/health":
                self.answer(200, books.health(node))
            elif self.path == "/admin/links":
                if self.authorized():
                    self.answer(200, books.admin_links(node))
            else:
                self.answer(404, {"error": "not here"})

        def do_POST(self):
            n = min(int(self.headers.get("content-length") or 0), MAX_BODY)
            raw = self.rfile.read(n) if n else b""
            parts = self.path.strip("/").split("/")
            if len(parts) != 4 or parts[:2] != ["admin", "links"]:
                self.answer(404, {"error": "not here"})
                return
            if not self.authorized():
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.answer(400, {"error": "not JSON"})
                return
            status, obj = books.act(node, parts[2], parts[3], body)
            self.answer(status, obj)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1], server
