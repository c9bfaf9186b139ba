#!/usr/bin/env python3
"""The network page of a running network, in headless Chromium (Selenium):
the steps of test_dashboard.py that need no control over the nodes' processes.

Checks: the page shows the given nodes and links, all up; a payment sent
from the page shows its fulfilled count; a link cut from the page turns
'down' within 2 s, its details say it is held down, and Restore brings it
back 'up'; the browser logged no console errors. Saves <name>.png (after
the send), <name>-cut.png (while cut) and, on failure, <name>-failure.png
in the artifact directory, and prints the times to 'down' and to 'up'.

tests/docker.rs (`mesh_dashboard_in_browser`) runs it against the committed
docker/docker-compose.mesh.yml; scripts/browser-setup.sh installs what it
needs and prints the Python to run it with.

Usage: check_page.py --url http://127.0.0.1:PORT --nodes a,b,c,d
         [--links a|b,...] --send FROM,TO --cut AT,PEER --artifacts DIR --name NAME
--links defaults to every pair of nodes (a full mesh).
"""

import argparse
import itertools
import os
import sys
import time

import dashboard_page as page

SEND_COUNT = 25
START_TIMEOUT = 30.0  # the dashboard's first answer


def pair(s):
    a, sep, b = s.partition(",")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"expected A,B, got {s!r}")
    return a, b


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:8000")
    ap.add_argument("--nodes", required=True, help="the node names, comma-separated")
    ap.add_argument("--links", help="the page's link ids (a|b), comma-separated; default: every pair")
    ap.add_argument("--send", required=True, type=pair, help="FROM,TO: send from FROM's sender to TO's receiver")
    ap.add_argument("--cut", required=True, type=pair, help="AT,PEER: cut AT's link to PEER, then restore it")
    ap.add_argument("--artifacts", required=True, help="directory for the screenshots")
    ap.add_argument("--name", required=True, help="screenshot name (without .png)")
    args = ap.parse_args()

    nodes = args.nodes.split(",")
    links = (args.links.split(",") if args.links
             else [page.edge_id(a, b) for a, b in itertools.combinations(nodes, 2)])
    base = args.url.rstrip("/")
    artifacts = os.path.abspath(args.artifacts)
    os.makedirs(artifacts, exist_ok=True)
    shot = lambda suffix: os.path.join(artifacts, f"{args.name}{suffix}.png")

    driver = None
    ok = False
    t_start = time.monotonic()
    try:
        page.wait_until(f"the dashboard answering at {base}", lambda: page.http_json(base + "/api/state"),
                        START_TIMEOUT)
        driver = page.start_browser(base + "/")
        page.check_all_up(driver, nodes, links)
        page.send_from_page(driver, *args.send, SEND_COUNT)
        page.select_node(driver, args.send[0])
        driver.save_screenshot(shot(""))
        took_down, took_up = page.cut_and_restore(driver, *args.cut, screenshot=shot("-cut"))
        page.check_all_up(driver, nodes, links)
        page.assert_no_console_errors(driver)
        print(f"page timing: cut link 'down' {took_down:.2f} s after Cut (limit {page.DOWN_WITHIN} s), "
              f"'up' {took_up:.2f} s after Restore")
        ok = True
    finally:
        if driver is not None:
            if not ok:
                page.on_failure(driver, shot("-failure"))
            driver.quit()
        shots = f"{shot('')} and -cut.png" if ok else f"{shot('-failure')} (if the browser started)"
        print(f"check_page: {'passed' if ok else 'FAILED'} in {time.monotonic() - t_start:.1f} s; screenshots {shots}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
