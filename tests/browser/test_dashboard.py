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

Usage: test_dashboard.py <path to ilp-connector binary> <artifact dir>
Run it through scripts/test-browser.sh, which installs what it needs.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

NODES = ["node-a", "node-b", "node-c", "node-d"]
SENDER_SECRET = "sender-secret"
RECEIVER_SECRET = "receiver-secret"
ADMIN_TOKEN = "browser-admin-token"
START_TIMEOUT = 30.0  # generous: other work may load the machine
DOWN_WITHIN = 2.0  # the figure for a link to show 'down'
UP_WITHIN = 15.0  # redial backoff of the restarted node's peers included
PAGE_TIMEOUT = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_name(node_id):
    return node_id.upper().replace("-", "_")


def http_json(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_until(what, cond, timeout, interval=0.05):
    """Polls cond() until it returns a true value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # not ready yet: keep polling
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


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
            env[f"BTP_PEER_{env_name(m)}_SECRET"] = f"secret-{lo}-{hi}"
            if j < i:  # the later node dials the earlier one
                env[f"BTP_PEER_{env_name(m)}_URL"] = f"ws://127.0.0.1:{ports[m][0]}"
        procs[n] = Proc(n, [binary], env, logdir)
    return ports, procs


def all_links_up(health_port):
    h = http_json(f"http://127.0.0.1:{health_port}/health")
    peers = [l for l in h["links"] if l["relation"] == "peer"]
    return len(peers) == 3 and all(l["connected"] for l in peers)


def edge_states(driver):
    # One script call: the page redraws the graph on every update, so element
    # handles go stale between calls.
    return driver.execute_script(
        "const o = {}; document.querySelectorAll('#graph g.edge')"
        ".forEach(e => o[e.dataset.edge] = e.dataset.state); return o;")


def node_states(driver):
    return driver.execute_script(
        "const o = {}; document.querySelectorAll('#graph g.node')"
        ".forEach(e => o[e.dataset.node] = e.dataset.state); return o;")


def click_action(driver, act, node, link):
    """Clicks the page's `act` button (Cut, Restore, ...) for `node`'s link to
    `link` in the details panel, as a user does. The panel is redrawn on
    updates, so a stale button is looked up again."""
    sel = f'#details-body button[data-act="{act}"][data-node="{node}"][data-link="{link}"]'

    def click():
        b = driver.find_element(By.CSS_SELECTOR, sel)
        if not b.is_enabled():
            return False
        b.click()
        return True

    wait_until(f"the {act} button of {node}->{link} clickable", click, PAGE_TIMEOUT)
    return time.monotonic()


def text(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


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

        opts = Options()
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1440,1000", "--force-device-scale-factor=1"]:
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if os.environ.get("CHROMIUM_BIN"):
            opts.binary_location = os.environ["CHROMIUM_BIN"]
        service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        driver = webdriver.Chrome(service=service, options=opts)
        driver.get(base + "/")

        # 4 nodes, 6 links, all up.
        wait_until("4 nodes drawn, all up",
                   lambda: node_states(driver) == {n: "up" for n in NODES}, PAGE_TIMEOUT)
        states = wait_until("6 links drawn, all up",
                            lambda: (lambda s: s if len(s) == 6 and set(s.values()) == {"up"} else None)(edge_states(driver)),
                            PAGE_TIMEOUT)
        print(f"page: 4 nodes up, 6 links up: {sorted(states)}")

        # A payment from the page: node-a's sender to node-c's receiver.
        wait_until("send button enabled", lambda: driver.find_element(By.ID, "send-btn").is_enabled(), PAGE_TIMEOUT)
        from selenium.webdriver.support.ui import Select
        Select(driver.find_element(By.ID, "send-from")).select_by_value("node-a")
        Select(driver.find_element(By.ID, "send-to")).select_by_value("node-c")
        count = driver.find_element(By.ID, "send-count")
        count.clear()
        count.send_keys("25")
        driver.find_element(By.ID, "send-btn").click()
        result = wait_until("the send result", lambda: driver.find_element(By.CSS_SELECTOR, "#send-result .result"), PAGE_TIMEOUT)
        fulfilled, sent = result.get_attribute("data-fulfilled"), result.get_attribute("data-sent")
        assert (fulfilled, sent) == ("25", "25"), f"send result: {result.text!r}"
        assert driver.find_element(By.CSS_SELECTOR, "#send-result .fulfilled-count").text == "25"
        print(f"page: sent 25 from node-a to node-c, fulfilled {fulfilled}")
        wait_until("the send listed under recent sends",
                   lambda: "node-a → node-c" in driver.find_element(By.ID, "sends").text, PAGE_TIMEOUT)

        # Select node-b so the screenshot shows its details.
        driver.execute_script(
            "document.querySelector('#graph g.node[data-node=\"node-b\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        wait_until("node-b's details", lambda: "node-b" in driver.find_element(By.ID, "details-body").text, PAGE_TIMEOUT)
        driver.save_screenshot(os.path.join(artifacts, "dashboard.png"))

        # Cut node-a's link to node-b from the page (the link's details,
        # "at node-a": Cut), see it down within 2 s, then Restore it.
        cut = "node-a|node-b"
        driver.execute_script(
            f"document.querySelector('#graph g.edge[data-edge=\"{cut}\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        wait_until("the link's details", lambda: "at node-a" in driver.find_element(By.ID, "details-body").text.lower(),
                   PAGE_TIMEOUT)
        t_cut = click_action(driver, "down", "node-a", "node-b")
        wait_until(f"{cut} down after Cut", lambda: edge_states(driver).get(cut) == "down",
                   DOWN_WITHIN + 1.0, interval=0.02)
        took_cut = time.monotonic() - t_cut
        s = edge_states(driver)
        assert all(st == "up" for e, st in s.items() if e != cut), s
        print(f"page: Cut {cut} from the page, down after {took_cut:.2f} s (limit {DOWN_WITHIN} s)")
        assert took_cut <= DOWN_WITHIN, f"cut link turned down after {took_cut:.2f} s, over {DOWN_WITHIN} s"
        metrics_a = text(f"http://127.0.0.1:{ports['node-a'][1]}/metrics")
        fault_line = 'ilp_link_fault{link="node-b",kind="down"} 1'
        assert fault_line in metrics_a, f"node-a /metrics lacks {fault_line}"
        assert 'ilp_link_up{link="node-b"} 0' in metrics_a
        print(f"node-a /metrics: {fault_line}")
        wait_until("the cut shown in the link's details",
                   lambda: "held down" in driver.find_element(By.ID, "details-body").text, PAGE_TIMEOUT)
        driver.save_screenshot(os.path.join(artifacts, "dashboard-cut.png"))
        t_restore = click_action(driver, "up", "node-a", "node-b")
        wait_until(f"{cut} up after Restore", lambda: edge_states(driver).get(cut) == "up", UP_WITHIN)
        print(f"page: Restore {cut} from the page, up after {time.monotonic() - t_restore:.2f} s")
        metrics_a = text(f"http://127.0.0.1:{ports['node-a'][1]}/metrics")
        assert 'ilp_link_fault{link="node-b",kind="down"} 0' in metrics_a

        # Kill node-d: its 3 links must show 'down' within 2 s.
        procs["node-d"].kill()
        t_kill = time.monotonic()
        d_edges = [e for e in states if "node-d" in e.split("|")]
        assert len(d_edges) == 3, d_edges
        wait_until("node-d's links down", lambda: all(edge_states(driver).get(e) == "down" for e in d_edges),
                   DOWN_WITHIN + 1.0, interval=0.02)
        took_down = time.monotonic() - t_kill
        others = [e for e in states if e not in d_edges]
        s = edge_states(driver)
        assert all(s[e] == "up" for e in others), s
        node_d = node_states(driver)["node-d"]
        assert node_d == "down", node_d
        print(f"page: node-d killed, its 3 links down after {took_down:.2f} s (limit {DOWN_WITHIN} s)")
        assert took_down <= DOWN_WITHIN, f"links turned down after {took_down:.2f} s, over {DOWN_WITHIN} s"
        driver.save_screenshot(os.path.join(artifacts, "dashboard-down.png"))

        # Restart it on the same ports: the links come back.
        procs["node-d"].start()
        t_restart = time.monotonic()
        wait_until("node-d's links up again", lambda: all(edge_states(driver).get(e) == "up" for e in d_edges),
                   UP_WITHIN, interval=0.05)
        print(f"page: node-d restarted, its links up after {time.monotonic() - t_restart:.2f} s")

        errors = console_errors(driver)
        assert not errors, f"console errors: {errors}"
        print("page: no console errors")
        assert dash.alive(), "the dashboard exited"
        ok = True
    finally:
        if driver is not None:
            if not ok:
                try:
                    driver.save_screenshot(os.path.join(artifacts, "dashboard-failure.png"))
                    print("browser log:", driver.get_log("browser"))
                except Exception as e:
                    print(f"(no failure screenshot: {e})")
            driver.quit()
        for p in list(procs.values()) + [dash]:
            if not ok:
                print(f"--- {p.name} log tail ---\n{p.log_tail()}")
            p.kill()
        print(f"browser tier: {'passed' if ok else 'FAILED'} in {time.monotonic() - t_start:.1f} s; logs in {logdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
