#!/usr/bin/env python3
"""Walk every demo role's pages in headless Chromium at desktop and phone width.

For each role it signs in, opens each page at 1366 px and 390 px wide, saves a screenshot
(PNG) and reports what a reviewer looks for: a page wider than the screen, JavaScript errors
logged, an error status, and chart text smaller than 11 px. Needs chromedriver on PATH
(apt-get install chromium chromium-driver) and a running Tandem with the demo data:

    cargo run --release -- serve --demo &
    scripts/walk.py [base url, default http://127.0.0.1:8080] [output dir, default ./walk]

Only the Python standard library is used (the WebDriver protocol over HTTP).
"""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

BASE = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080").rstrip("/")
OUT = sys.argv[2] if len(sys.argv) > 2 else "walk"
PASSWORD = "tandem-demo"
WIDTHS = [1366, 390]

ROLES = {
    "merchant@demo.tandem.test": [
        "/merchant/dashboard", "/merchant/dashboard?days=90&by=influencer", "/merchant/orders",
        "/merchant/campaigns", "/merchant/products", "/merchant/statement",
        "/merchant/integration", "/merchant", "/merchant/domains", "/account",
        "/merchant/billing", "/merchant/billing/invoices/1", "/merchant/streams/7/live",
    ],
    "influencer@demo.tandem.test": [
        "/influencer/dashboard", "/influencer/links", "/influencer/earnings",
        "/influencer/payouts", "/influencer/marketplace", "/influencer/collaborations",
        "/influencer", "/influencer/streams/7/live", "/influencer/streams/7/live?dark=1",
        "/influencer/streams/4/live", "/influencer/streams/4",
    ],
    "finance@demo.tandem.test": [
        "/finance/dashboard", "/finance/payouts", "/finance/payouts?state=failed",
        "/finance/schedules", "/finance/schedules/new", "/finance/review", "/finance/audit",
        "/finance/billing", "/finance/billing/invoices/2", "/finance/billing?merchant=3",
        "/finance/billing/statements",
    ],
    "admin@demo.tandem.test": [
        "/admin", "/admin/merchants", "/admin/domains", "/admin/users/3/disable",
        "/admin/billing",
        "/no-such-page",
    ],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            try:
                self.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox",
                                            "--disable-gpu", "--hide-scrollbars"]},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"{}").get("value", {})

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def js(self, script):
        return self.s("POST", "/execute/sync", {"script": script, "args": []})

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def size(self, width):
        self.s("POST", "/window/rect", {"width": width, "height": 900})

    def logs(self):
        try:
            return self.s("POST", "/se/log", {"type": "browser"})
        except Exception:
            return []

    def quit(self):
        try:
            self.s("DELETE", "")
        finally:
            self.proc.kill()


def sign_in(d, email):
    d.go(BASE + "/login")
    d.js(
        "document.querySelector('[name=email]').value = %s;"
        "document.querySelector('[name=password]').value = %s;"
        "document.querySelector('form[action=\"/login\"]').submit();"
        % (json.dumps(email), json.dumps(PASSWORD))
    )
    time.sleep(1.0)


CHECK = """
const w = document.documentElement.scrollWidth, v = window.innerWidth;
let small = [];
document.querySelectorAll('svg text').forEach(t => {
  const h = t.getBoundingClientRect().height;
  const fs = parseFloat(getComputedStyle(t).fontSize) *
    (t.ownerSVGElement ? t.ownerSVGElement.getBoundingClientRect().width /
      (t.ownerSVGElement.viewBox.baseVal.width || t.ownerSVGElement.getBoundingClientRect().width) : 1);
  if (t.textContent.trim() && fs < 11) small.push(t.textContent.trim() + ' ' + fs.toFixed(1) + 'px');
});
// Elements that stick out of the screen (not inside a box that scrolls or clips them).
let out = [];
const clipped = el => {
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll') return true;
  }
  return false;
};
document.querySelectorAll('body *').forEach(el => {
  const r = el.getBoundingClientRect();
  const cs = getComputedStyle(el);
  if (r.width > 0 && cs.display !== 'inline' && cs.overflowX === 'visible' &&
      el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0 && out.length < 5)
    out.push(el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : '') + ' text wider than its box (' + el.scrollWidth + ' > ' + el.clientWidth + ')');
  if (r.width > 0 && r.right > v + 1 && !clipped(el) && out.length < 5)
    out.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '') + ' to ' + Math.round(r.right) + 'px');
});
// Tables that scroll sideways inside their box (their columns do not fit).
document.querySelectorAll('.table-wrap').forEach(el => {
  if (el.scrollWidth > el.clientWidth + 2 && out.length < 5)
    out.push('a table scrolls sideways (' + el.scrollWidth + ' > ' + el.clientWidth + ')');
});
return {wide: w > v + 1 ? w : 0, title: document.title, small: small.slice(0, 5), out: out};
"""


def main():
    os.makedirs(OUT, exist_ok=True)
    problems = 0
    for email, pages in ROLES.items():
        d = Driver()
        try:
            sign_in(d, email)
            role = email.split("@")[0]
            for path in pages:
                for width in WIDTHS:
                    d.size(width)
                    d.go(BASE + path)
                    time.sleep(0.3)
                    r = d.js(CHECK)
                    name = f"{role}{path.replace('/', '_').replace('?', '_')}-{width}.png"
                    # The whole page in one picture (at most 5,000 px tall).
                    tall = d.js("return document.documentElement.scrollHeight;")
                    d.s("POST", "/window/rect", {"width": width, "height": min(int(tall) + 120, 5000)})
                    png = base64.b64decode(d.s("GET", "/screenshot"))
                    with open(os.path.join(OUT, name), "wb") as f:
                        f.write(png)
                    errors = [l["message"] for l in d.logs() if l.get("level") == "SEVERE"
                              and "404" not in l["message"]]
                    notes = []
                    if r["wide"]:
                        notes.append(f"page {r['wide']} px wide")
                    if r["out"]:
                        notes.append("sticks out: " + "; ".join(r["out"]))
                    if r["small"]:
                        notes.append("chart text < 11 px: " + "; ".join(r["small"]))
                    if errors:
                        notes.append("JS: " + " | ".join(errors))
                    problems += bool(notes)
                    print(f"{'!!' if notes else 'ok'} {width:>4} {path}  [{r['title']}] "
                          + "; ".join(notes))
        finally:
            d.quit()
    print(f"{problems} page views with something to look at; screenshots in {OUT}/")


if __name__ == "__main__":
    main()
