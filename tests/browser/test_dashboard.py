#!/usr/bin/env python3
"""Browser tier: the network page in headless Chromium (Selenium), against a
real 4-node mesh on loopback, every node and the dashboard a process of the
built binary.

Checks: the page shows 4 nodes and 6 links, all up; a payment sent from the
page shows its fulfilled count; a link cut from the page (its Cut button:
the dashboard relays it to the node's admin API) turns 'down' within 2 s,
the node's /metrics shows the fault, and Restore on the page brings it back
'up'; a killed node turns its 3 links to 'down' within 2 s and they come back
'up' after it restarts; the browser logged no console errors. Saves
target/browser/dashboard.png (and -cut.png, -down.png).

Books (dashboard_page.check_books): with the mesh, when its nodes report
their books (MESH_BOOKS_MUST below says whether they must), both ends of
node-a's link to node-c after the send, a limit set, a settlement refused
and one paid, all from the page. The same checks always run against two
stand-in nodes with books (books_stand_in.py) under a second dashboard:
target/browser/dashboard-books.png (the page), dashboard-books-card.png
(the Books card alone, as docs/dashboard-books.png).

Usage: test_dashboard.py <path to ilp-connector binary> <artifact dir>
Run it through scripts/test-browser.sh, which installs what it needs. The
page-driving steps are in dashboard_page.py, shared with check_page.py (the
same checks against the Docker mesh, from tests/docker.rs).
"""

import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import books_stand_in
import dashboard_page as page
from dashboard_page import DOWN_WITHIN, UP_WITHIN, edge_id, http_json, text, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from peer_env import env_id  # noqa: E402  (scripts/peer_env.py: the BTP_PEER_<ID> rule)

NODES = ["node-a", "node-b", "node-c", "node-d"]
SENDER_SECRET = "sender-secret"
RECEIVER_SECRET = "receiver-secret"
ADMIN_TOKEN = "browser-admin-token"
START_TIMEOUT = 30.0  # generous: other work may load the machine
# Whether the mesh's nodes must report their books (a `balance` per link in
# /health). False while the nodes do not keep books: the Books card must then
# say so, and the balance checks run only against the stand-ins.
MESH_BOOKS_MUST = True
BOOKS_NODES = ["books-x", "books-y"]
PAGE_WAIT = page.PAGE_TIMEOUT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, name, argv, env, logdir):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.p = None

    def start(self):
        log = open(self.log_path, "ab")
        self.p = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""


def mesh(binary, logdir):
    ports = {n: (free_port(), free_port()) for n in NODES}
    procs = {}
    for i, n in enumerate(NODES):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "NODE_ID": n,
            "BIND_ADDRESS": "127.0.0.1",
            "BTP_SERVER_PORT": str(ports[n][0]),
            "HEALTH_PORT": str(ports[n][1]),
            "LOG_FORMAT": "json",
            "RECEIVER_SECRET": RECEIVER_SECRET,
            "BTP_PEER_SENDER_SECRET": SENDER_SECRET,
            "BTP_PEER_SENDER_RELATION": "child",
            "ADMIN_TOKEN": ADMIN_TOKEN,
        }
        for j, m in enumerate(NODES):
            if m == n:
                continue
            lo, hi = sorted([n, m])
            env[f"BTP_PEER_{env_id(m)}_SECRET"] = f"secret-{lo}-{hi}"
            if j < i:  # the later node dials the earlier one
                env[f"BTP_PEER_{env_id(m)}_URL"] = f"ws://127.0.0.1:{ports[m][0]}"
        procs[n] = Proc(n, [binary], env, logdir)
    return ports, procs


def all_links_up(health_port):
    h = http_json(f"http://127.0.0.1:{health_port}/health")
    peers = [l for l in h["links"] if l["relation"] == "peer"]
    return len(peers) == 3 and all(l["connected"] for l in peers)


def main():
    binary, artifacts = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(artifacts, exist_ok=True)
    logdir = tempfile.mkdtemp(prefix="ilp-browser-")
    ports, procs = mesh(binary, logdir)
    dash_port = free_port()
    dash = Proc(
        "dashboard",
        [binary, "dashboard"],
        {
            "PATH": os.environ.get("PATH", ""),
            "LOG_FORMAT": "json",
            "DASHBOARD_NODES": ",".join(f"{n}=http://127.0.0.1:{ports[n][1]}" for n in NODES),
            "DASHBOARD_PORT": str(dash_port),
            "DASHBOARD_SENDER_SECRET": SENDER_SECRET,
            "DASHBOARD_RECEIVER_SECRET": RECEIVER_SECRET,
            "DASHBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
        },
        logdir,
    )
    driver = None
    extra = []  # processes started later
    ok = False
    t_start = time.monotonic()
    try:
        for p in procs.values():
            p.start()
        dash.start()
        for n in NODES:
            wait_until(f"{n}'s 3 peer links up", lambda n=n: all_links_up(ports[n][1]), START_TIMEOUT)
        base = f"http://127.0.0.1:{dash_port}"
        wait_until("the dashboard answering", lambda: http_json(base + "/api/state"), START_TIMEOUT)
        driver = page.start_browser(base + "/")

        # 4 nodes, 6 links, all up; a payment from the page: node-a's sender
        # to node-c's receiver.
        states = page.check_all_up(driver, NODES, [edge_id(a, b) for a, b in itertools.combinations(NODES, 2)])
        page.send_from_page(driver, "node-a", "node-c", 25)
        # Select node-b so the screenshot shows its details.
        page.select_node(driver, "node-b")
        driver.save_screenshot(os.path.join(artifacts, "dashboard.png"))

        # The books of node-a's link to node-c (node-a paid node-c for the
        # send): when the nodes report them, or must.
        page.check_books(driver, base, "node-a", "node-c", must=MESH_BOOKS_MUST,
                         screenshot=os.path.join(artifacts, "dashboard-mesh-books.png"))

        # Cut node-a's link to node-b from the page: down within 2 s, the
        # fault in node-a's /metrics, then Restore.
        def fault_in_metrics():
            metrics_a = text(f"http://127.0.0.1:{ports['node-a'][1]}/metrics")
            fault_line = 'ilp_link_fault{link="node-b",kind="down"} 1'
            assert fault_line in metrics_a, f"node-a /metrics lacks {fault_line}"
            assert 'ilp_link_up{link="node-b"} 0' in metrics_a
            print(f"node-a /metrics: {fault_line}")

        page.cut_and_restore(driver, "node-a", "node-b", while_cut=fault_in_metrics,
                             screenshot=os.path.join(artifacts, "dashboard-cut.png"))
        metrics_a = text(f"http://127.0.0.1:{ports['node-a'][1]}/metrics")
        assert 'ilp_link_fault{link="node-b",kind="down"} 0' in metrics_a

        # Kill node-d: its 3 links must show 'down' within 2 s.
        procs["node-d"].kill()
        t_kill = time.monotonic()
        d_edges = [e for e in states if "node-d" in e.split("|")]
        assert len(d_edges) == 3, d_edges
        wait_until("node-d's links down", lambda: all(page.edge_states(driver).get(e) == "down" for e in d_edges),
                   DOWN_WITHIN + 1.0, interval=0.02)
        took_down = time.monotonic() - t_kill
        others = [e for e in states if e not in d_edges]
        s = page.edge_states(driver)
        assert all(s[e] == "up" for e in others), s
        node_d = page.node_states(driver)["node-d"]
        assert node_d == "down", node_d
        print(f"page: node-d killed, its 3 links down after {took_down:.2f} s (limit {DOWN_WITHIN} s)")
        assert took_down <= DOWN_WITHIN, f"links turned down after {took_down:.2f} s, over {DOWN_WITHIN} s"
        driver.save_screenshot(os.path.join(artifacts, "dashboard-down.png"))

        # Restart it on the same ports: the links come back.
        procs["node-d"].start()
        t_restart = time.monotonic()
        wait_until("node-d's links up again", lambda: all(page.edge_states(driver).get(e) == "up" for e in d_edges),
                   UP_WITHIN, interval=0.05)
        print(f"page: node-d restarted, its links up after {time.monotonic() - t_restart:.2f} s")

        page.assert_no_console_errors(driver)
        assert dash.alive(), "the dashboard exited"

        # The Books card against stand-in nodes that keep books, under a
        # dashboard of their own.
        books = books_stand_in.Books(*BOOKS_NODES)
        stand_ins = {n: books_stand_in.serve(books, n, ADMIN_TOKEN) for n in BOOKS_NODES}
        books_port = free_port()
        books_dash = Proc(
            "dashboard-books",
            [binary, "dashboard"],
            {
                "PATH": os.environ.get("PATH", ""),
                "LOG_FORMAT": "json",
                "DASHBOARD_NODES": ",".join(f"{n}=http://127.0.0.1:{stand_ins[n][0]}" for n in BOOKS_NODES),
                "DASHBOARD_PORT": str(books_port),
                "DASHBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
            },
            logdir,
        )
        extra.append(books_dash)
        books_dash.start()
        books_base = f"http://127.0.0.1:{books_port}"
        wait_until("the books dashboard answering", lambda: http_json(books_base + "/api/state"), START_TIMEOUT)
        driver.get(books_base + "/")
        page.check_all_up(driver, BOOKS_NODES, [edge_id(*BOOKS_NODES)])
        page.check_books(driver, books_base, *BOOKS_NODES, must=True,
                         screenshot=os.path.join(artifacts, "dashboard-books-refused.png"))
        page.click_graph(driver, "edge", edge_id(*BOOKS_NODES))
        wait_until("the link's books in its details",
                   lambda: "settlements" in page.details(driver) and "balance" in page.details(driver), PAGE_WAIT)
        driver.save_screenshot(os.path.join(artifacts, "dashboard-books.png"))
        page.save_card(driver, ".books-card", os.path.join(artifacts, "dashboard-books-card.png"))
        page.assert_no_console_errors(driver)
        for _, server in stand_ins.values():
            server.shutdown()
        ok = True
    finally:
        if driver is not None:
            if not ok:
                page.on_failure(driver, os.path.join(artifacts, "dashboard-failure.png"))
            driver.quit()
        for p in list(procs.values()) + [dash] + extra:
            if not ok:
                print(f"--- {p.name} log tail ---\n{p.log_tail()}")
            p.kill()
        print(f"browser tier: {'passed' if ok else 'FAILED'} in {time.monotonic() - t_start:.1f} s; logs in {logdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
