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
    click_when_enabled(driver, sel, f"the {act} button of {node}->{link}")
    return time.monotonic()


def click_when_enabled(driver, sel, what):
    """Clicks the element `sel` selects once it is enabled, looking it up
    again each try (panels are redrawn on updates, so a button goes stale)."""

    def click():
        b = driver.find_element(By.CSS_SELECTOR, sel)
        if not b.is_enabled():
            return False
        click_centered(driver, b)
        return True

    wait_until(f"{what} clickable", click, PAGE_TIMEOUT)


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
    click_centered(driver, driver.find_element(By.ID, "send-btn"))
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


# ------------------------------------------------------------------ books

def book_rows(driver):
    """The Books card's rows: {(node, link): {committed, state, limits, sum}}
    in one script call (the card is redrawn on updates)."""
    return driver.execute_script("""
        const o = {};
        document.querySelectorAll('#books tr.book').forEach(r => {
          const bal = r.querySelector('td.bal'), st = r.querySelector('.settle-state');
          o[r.dataset.node + '>' + r.dataset.link] = {
            committed: bal && bal.dataset.committed,
            gauge: !!(bal && bal.querySelector('.gauge')),
            limits: bal ? bal.querySelector('.limits-text').textContent : null,
            state: st && st.dataset.state,
            buttons: Array.from(r.querySelectorAll('button[data-act]'))
              .filter(b => !b.disabled).map(b => b.dataset.act),
          };
        });
        return o;""")


def book_sum(driver, edge):
    return driver.execute_script(
        f"const s = document.querySelector('#books td.linkcell[data-edge=\"{edge}\"] .sum');"
        "return s ? s.dataset.sum : null;")


def settlement_rows(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#settlements tr.settlement'))"
        ".map(r => ({kind: r.dataset.kind, node: r.dataset.node, link: r.dataset.link, amount: r.dataset.amount}));")


def click_centered(driver, element):
    """Clicks `element` scrolled to the middle of the window: the sticky
    header would take a click on an element scrolled to the top edge."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def click_book(driver, act, node, link):
    """Clicks a Books card control (`settle`, `refuse-on`, `refuse-off`,
    `limits`) of `node`'s end of the link to `link`."""
    sel = f'#books tr.book[data-node="{node}"][data-link="{link}"] button[data-act="{act}"]'
    click_when_enabled(driver, sel, f"the books {act} button of {node}->{link}")


def nodes_report_books(base):
    """Whether any node on the dashboard at `base` reports a link's books."""
    s = http_json(base + "/api/state")
    return any(l.get("balance") for n in s["nodes"] for l in n["links"])


def check_books(driver, base, payer, payee, must, screenshot=None):
    """The Books card for the link payer-payee (node names, each the other's
    link id), driven as a user does: both ends' balances as the nodes report
    them (in /api/state), on a gauge against their limits, their sum; set
    payer's limits with the Limits form; payee refuses settlements (the
    fault), payer's Settle now shows 'settlement refused by peer' and a
    refused settlement in the list; payee accepts again, Settle now pays
    (a 'paid' settlement listed, the two ends back to a sum of 0).

    When no node reports books: with `must` false it checks the card says
    so and returns False; with `must` true it fails. Returns True when the
    books were checked."""
    if not nodes_report_books(base):
        assert not must, "no node reports its books (a `balance` per link in /health)"
        wait_until("the Books card saying no node reports books",
                   lambda: driver.find_elements(By.ID, "books-empty"), PAGE_TIMEOUT)
        print("page: no node reports its books yet; the Books card says so (balance checks not run: must=False)")
        return False
    a, b = f"{payer}>{payee}", f"{payee}>{payer}"
    edge = edge_id(payer, payee)

    def ends_as_reported():
        s = http_json(base + "/api/state")
        want = {}
        for n in s["nodes"]:
            for l in n["links"]:
                if l.get("balance") and f"{n['name']}>{l['id']}" in (a, b):
                    want[f"{n['name']}>{l['id']}"] = l["balance"]["committed"]
        rows = book_rows(driver)
        return len(want) == 2 and all(rows.get(k, {}).get("committed") == v for k, v in want.items()) and rows

    rows = wait_until(f"both ends of {edge} in the Books card as the nodes report them", ends_as_reported,
                      PAGE_TIMEOUT)
    for k in (a, b):
        assert {"settle", "limits"} <= set(rows[k]["buttons"]), rows[k]
        assert rows[k]["buttons"][1].startswith("refuse-"), rows[k]
    print(f"page: books of {edge}: {payer} {rows[a]['committed']}, {payee} {rows[b]['committed']}, "
          f"limits at {payer}: {rows[a]['limits']}")

    # Limits from the form.
    click_book(driver, "limits", payer, payee)
    form = wait_until("the Limits form", lambda: driver.find_element(By.ID, "limits-form").is_displayed()
                      and driver.find_element(By.ID, "limits-form"), PAGE_TIMEOUT)
    for key, value in [("minimum", ""), ("maximum", "1000000000"), ("settleThreshold", "-1000000000"),
                       ("settleTo", "0")]:
        field = form.find_element(By.ID, f"limit-{key}")
        field.clear()
        if value:
            field.send_keys(value)
    click_centered(driver, driver.find_element(By.ID, "limits-set"))
    wait_until(f"{payer}'s new limits shown", lambda: "max 1,000,000,000" in (book_rows(driver)[a]["limits"] or "")
               and "settle below −1,000,000,000 to 0" in book_rows(driver)[a]["limits"], PAGE_TIMEOUT)
    assert not driver.find_element(By.ID, "limits-form").is_displayed()
    assert book_rows(driver)[a]["gauge"], "a bounded end is drawn on a gauge"
    print(f"page: limits of {payer}->{payee} set from the page: {book_rows(driver)[a]['limits']}")

    # The payee refuses settlements: Settle now is refused.
    click_book(driver, "refuse-on", payee, payer)
    wait_until(f"{payee} refusing settlements", lambda: "refuse-off" in book_rows(driver)[b]["buttons"], PAGE_TIMEOUT)
    owed = wait_until(f"{payer} owing {payee}", lambda: int(book_rows(driver)[a]["committed"]) < 0, PAGE_TIMEOUT)
    assert owed
    click_book(driver, "settle", payer, payee)
    wait_until(f"'settlement refused by peer' at {payer}",
               lambda: book_rows(driver)[a]["state"] == "settlement refused by peer", PAGE_TIMEOUT)
    wait_until("the refusal in the settlements list",
               lambda: any(r["kind"] == "refused" and r["node"] == payer for r in settlement_rows(driver)),
               PAGE_TIMEOUT)
    print(f"page: {payee} refuses settlements; {payer}'s Settle now shows 'settlement refused by peer'")
    if screenshot:
        driver.save_screenshot(screenshot)

    # Accepted again: Settle now pays (the node may retry by itself first).
    click_book(driver, "refuse-off", payee, payer)
    wait_until(f"{payee} accepting settlements", lambda: "refuse-on" in book_rows(driver)[b]["buttons"], PAGE_TIMEOUT)
    if int(book_rows(driver)[a]["committed"]) < 0:
        click_book(driver, "settle", payer, payee)
    paid = wait_until("a paid settlement listed",
                      lambda: [r for r in settlement_rows(driver) if r["kind"] == "paid" and r["node"] == payer],
                      PAGE_TIMEOUT)
    wait_until(f"{edge}'s two ends summing to 0", lambda: book_sum(driver, edge) == "0", PAGE_TIMEOUT)
    print(f"page: {payer} paid {payee} {paid[0]['amount']} from the page; the two ends sum to 0")
    return True


def save_card(driver, selector, path):
    """A screenshot of one card of the page (`selector`), scrolled into view."""
    el = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    el.screenshot(path)
