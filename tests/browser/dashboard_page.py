"""Driving the network page (`ilp-connector dashboard`) in headless Chromium
with Selenium, shared by the browser tier's two runs:

- test_dashboard.py: a 4-node mesh of processes on loopback;
- check_page.py: any running dashboard, given its URL (tests/docker.rs runs
  it against the committed docker/docker-compose.mesh.yml).

Each step asserts what the page shows and prints what it saw.
"""

import json
import os
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

DOWN_WITHIN = 2.0  # the figure for a link to show 'down'
UP_WITHIN = 15.0  # redial backoff of a restarted node's peers included
PAGE_TIMEOUT = 15.0


def http_json(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def text(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


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


def edge_id(a, b):
    """The page's id of the link between nodes a and b."""
    return "|".join(sorted([a, b]))


def start_browser(url):
    """Headless Chromium (CHROMIUM_BIN, CHROMEDRIVER to override) on `url`."""
    opts = Options()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1440,1000", "--force-device-scale-factor=1"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if os.environ.get("CHROMIUM_BIN"):
        opts.binary_location = os.environ["CHROMIUM_BIN"]
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.get(url)
    return driver


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


def click_graph(driver, kind, ident):
    """Clicks a node (`kind` "node") or a link ("edge") of the graph."""
    driver.execute_script(
        f"document.querySelector('#graph g.{kind}[data-{kind}=\"{ident}\"]')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")


def details(driver):
    return driver.find_element(By.ID, "details-body").text


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


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def check_all_up(driver, nodes, links):
    """The page draws `nodes` and `links` (edge ids), every one up; returns
    the link states."""
    wait_until(f"{len(nodes)} nodes drawn, all up",
               lambda: node_states(driver) == {n: "up" for n in nodes}, PAGE_TIMEOUT)
    want = {e: "up" for e in links}
    states = wait_until(f"{len(links)} links drawn, all up", lambda: edge_states(driver) == want and want,
                        PAGE_TIMEOUT)
    print(f"page: {len(nodes)} nodes up, {len(states)} links up: {sorted(states)}")
    return states


def send_from_page(driver, src, dst, count):
    """Sends `count` packets from `src`'s sender account to `dst`'s receiver
    with the page's form; all must be fulfilled."""
    wait_until("send button enabled", lambda: driver.find_element(By.ID, "send-btn").is_enabled(), PAGE_TIMEOUT)
    Select(driver.find_element(By.ID, "send-from")).select_by_value(src)
    Select(driver.find_element(By.ID, "send-to")).select_by_value(dst)
    field = driver.find_element(By.ID, "send-count")
    field.clear()
    field.send_keys(str(count))
    driver.find_element(By.ID, "send-btn").click()
    result = wait_until("the send result", lambda: driver.find_element(By.CSS_SELECTOR, "#send-result .result"),
                        PAGE_TIMEOUT)
    fulfilled, sent = result.get_attribute("data-fulfilled"), result.get_attribute("data-sent")
    assert (fulfilled, sent) == (str(count), str(count)), f"send result: {result.text!r}"
    assert driver.find_element(By.CSS_SELECTOR, "#send-result .fulfilled-count").text == str(count)
    print(f"page: sent {count} from {src} to {dst}, fulfilled {fulfilled}")
    wait_until("the send listed under recent sends",
               lambda: f"{src} → {dst}" in driver.find_element(By.ID, "sends").text, PAGE_TIMEOUT)


def select_node(driver, node):
    """Selects `node` so its details show (and a screenshot has them)."""
    click_graph(driver, "node", node)
    wait_until(f"{node}'s details", lambda: node in details(driver), PAGE_TIMEOUT)


def cut_and_restore(driver, at, peer, while_cut=None, screenshot=None):
    """Cuts `at`'s link to `peer` from the page (the link's details, "at <at>":
    Cut), checks it turns 'down' within DOWN_WITHIN while every other link
    stays up, then Restore brings it back 'up'. `while_cut()` runs while it
    is down; `screenshot` is saved then. Returns the seconds to 'down' and
    to 'up'."""
    cut = edge_id(at, peer)
    click_graph(driver, "edge", cut)
    wait_until("the link's details", lambda: f"at {at}" in details(driver).lower(), PAGE_TIMEOUT)
    t_cut = click_action(driver, "down", at, peer)
    wait_until(f"{cut} down after Cut", lambda: edge_states(driver).get(cut) == "down",
               DOWN_WITHIN + 1.0, interval=0.02)
    took_down = time.monotonic() - t_cut
    s = edge_states(driver)
    assert all(st == "up" for e, st in s.items() if e != cut), s
    print(f"page: Cut {cut} from the page, down after {took_down:.2f} s (limit {DOWN_WITHIN} s)")
    assert took_down <= DOWN_WITHIN, f"cut link turned down after {took_down:.2f} s, over {DOWN_WITHIN} s"
    if while_cut:
        while_cut()
    wait_until("the cut shown in the link's details", lambda: "held down" in details(driver), PAGE_TIMEOUT)
    if screenshot:
        driver.save_screenshot(screenshot)
    t_restore = click_action(driver, "up", at, peer)
    wait_until(f"{cut} up after Restore", lambda: edge_states(driver).get(cut) == "up", UP_WITHIN)
    took_up = time.monotonic() - t_restore
    print(f"page: Restore {cut} from the page, up after {took_up:.2f} s")
    return took_down, took_up


def assert_no_console_errors(driver):
    errors = console_errors(driver)
    assert not errors, f"console errors: {errors}"
    print("page: no console errors")


def on_failure(driver, path):
    """A screenshot at `path` and the browser's log, after a failed check."""
    try:
        driver.save_screenshot(path)
        print("browser log:", driver.get_log("browser"))
    except Exception as e:
        print(f"(no failure screenshot: {e})")
