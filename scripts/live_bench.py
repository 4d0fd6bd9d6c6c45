#!/usr/bin/env python3
"""Live board benchmark: server-sent events under a click storm, and memory per open board.

Starts `tandem serve --demo` on an empty SQLite database in a temporary folder, signs in as
the demo creator once, marks one of their streams live and then measures:

  1. Redirect throughput with no board open: wrk on `/l/<code>` of another creator's stream
     (a browser user agent, so every request is a human click stored before its 302).
  2. 1,000 boards (`--boards`) of the live stream connected to its event stream. While wrk
     runs the same storm again (`--duration` seconds), one probe click on the live stream's
     own link every 1.5 s; for each probe and board, the time from the probe's 302 (the click
     is stored) to the board's first `board` event showing it (its Clicks figure reaching the
     probe's count). Percentiles over all boards x probes, boards that missed a probe (no
     such event within 5 s), and wrk's throughput with the boards connected.
  3. Memory: those boards closed, 10,000 idle boards (`--idle`) opened; the server's RSS
     with none and with all of them connected (each has had its first event), per board;
     `/healthz` answer times and the server's CPU with all of them connected.

Only the Python standard library is used, plus wrk (apt-get install wrk). Build first:

    cargo build --release
    scripts/live_bench.py [--boards 1000] [--idle 10000] [--duration 20]
                          [--binary target/release/tandem] [--keep]

wrk, this script and the server run on the same machine and share its cores: the figures
are what one machine does with all three, not the server alone.
"""
import argparse
import asyncio
import ctypes
import html
import http.client
import math
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
      "Mobile/15E148")
DEMO_EMAIL = "influencer@demo.tandem.test"
DEMO_PASSWORD = "tandem-demo"
PROBE_EVERY = 1.5          # seconds between probe clicks (> the 1 s per-board event limit)
MISS_AFTER = 5.0           # a probe not shown on a board within this long is a miss
MARK_EVENT = b"event: board\n"
MARK_KEEPALIVE = b": keep-alive\n"
MARK_END = b"event: end\n"
# The Clicks figure of templates/live/fragment.html (human clicks of the stream in total).
MARK_CLICKS = b'<p class="live-label">Clicks</p><p class="live-value">'
CLK_TCK = os.sysconf("SC_CLK_TCK")
T0 = time.monotonic()


class BenchError(Exception):
    """A failure with a message for the reader (no traceback)."""


def say(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


# --------------------------------------------------------------------------- processes

CHILDREN = []  # Popen / asyncio processes to end on exit


def _parent_death_signal():
    """In a child: SIGTERM when this script dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def child_setup(nofile):
    def setup():
        _parent_death_signal()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, max(soft, nofile)) if hard != resource.RLIM_INFINITY else nofile
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return setup


def end_children():
    for p in CHILDREN:
        pid = getattr(p, "pid", None)
        if pid is None:
            continue
        alive = (p.returncode is None) if not isinstance(p, subprocess.Popen) else p.poll() is None
        if not alive:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 15
    for p in CHILDREN:
        if isinstance(p, subprocess.Popen):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        elif p.returncode is None:   # wrk, started by asyncio (its loop may be gone)
            try:
                os.kill(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    CHILDREN.clear()


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        raise BenchError(
            f"needs {need} open files but the hard limit (ulimit -Hn) is {hard}: raise it "
            f"(e.g. /etc/security/limits.conf or `ulimit -Hn {need}` as root) or use a smaller "
            f"--idle")
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY
                                                    else min(hard, max(need, soft)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Server:
    def __init__(self, binary, workdir, port, nofile):
        self.binary, self.dir, self.port, self.nofile = binary, workdir, port, nofile
        self.proc = None
        self.out_path = os.path.join(workdir, "server.out")
        self.err_path = os.path.join(workdir, "server.err")
        self.db_path = os.path.join(workdir, "t.db")

    def start(self):
        env = dict(os.environ)
        env.update({
            "TANDEM_DATA_DIR": self.dir,
            "TANDEM_DATABASE_URL": f"sqlite://{self.db_path}",
            "TANDEM_BIND": f"127.0.0.1:{self.port}",
            "TANDEM_BASE_URL": f"http://127.0.0.1:{self.port}",
            "TANDEM_SCHEDULER": "off",
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
        })
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--demo"], env=env, stdin=subprocess.DEVNULL,
            stdout=open(self.out_path, "wb"), stderr=open(self.err_path, "wb"),
            preexec_fn=child_setup(self.nofile), start_new_session=True)
        CHILDREN.append(self.proc)

    def log_tail(self, n=20):
        lines = []
        for path in (self.out_path, self.err_path):
            try:
                with open(path, "rb") as f:
                    lines += f.read().decode("utf-8", "replace").splitlines()[-n:]
            except OSError:
                pass
        return "\n".join("    " + l for l in lines[-n:])

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"the server exited with status {self.proc.returncode}; its log:\n"
                             + self.log_tail())

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                status, _, _ = request(self.port, "GET", "/healthz", timeout=3)
                if status == 200:
                    return
                last = f"status {status}"
            except OSError as e:
                last = str(e)
            time.sleep(0.25)
        raise BenchError(f"GET /healthz did not answer 200 within {timeout:.0f} s ({last}); log:\n"
                         + self.log_tail())

    def accounts(self):
        """(email, password) of the demo creator, from what `serve --demo` printed."""
        try:
            with open(self.out_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 4 and parts[0] == "demo" and parts[1] == "influencer":
                        return parts[2], parts[3]
        except OSError:
            pass
        return DEMO_EMAIL, DEMO_PASSWORD

    def status_kib(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise BenchError(f"no {field} in /proc/{self.proc.pid}/status")

    def rss_kib(self):
        return self.status_kib("VmRSS")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def connections(self):
        """The server's side of its TCP connections (local port = its port), by state:
        ESTABLISHED, and CLOSE_WAIT (the client closed, the server has not yet)."""
        states = {"01": "established", "08": "close_wait"}
        counts = {"established": 0, "close_wait": 0, "other": 0}
        want = f":{self.port:04X}"
        for path in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(path) as f:
                    next(f, None)
                    for line in f:
                        parts = line.split(None, 4)
                        if len(parts) > 3 and parts[1].endswith(want) and parts[3] != "0A":
                            key = states.get(parts[3], "other")
                            counts[key] += 1
            except OSError:
                pass
        return counts

    def fd_limit(self):
        with open(f"/proc/{self.proc.pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        return None

    def threads(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))


# --------------------------------------------------------------------------- plain HTTP

def request(port, method, path, headers=None, body=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"User-Agent": UA}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, r.msg, data
    finally:
        conn.close()


class Session:
    """One signed-in browser: its cookies, reused by every board."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def call(self, method, path, form=None, expect=None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        try:
            status, msg, data = request(self.port, method, path, headers, body)
        except OSError as e:
            raise BenchError(f"{method} {path}: {e}") from None
        for sc in msg.get_all("Set-Cookie") or []:
            pair = sc.split(";", 1)[0]
            name, _, value = pair.partition("=")
            name = name.strip()
            if not value or "max-age=0" in sc.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip()
        if expect is not None and status not in expect:
            text = re.sub(r"<[^>]+>", " ", data.decode("utf-8", "replace"))
            text = re.sub(r"\s+", " ", text).strip()[:400]
            raise BenchError(f"{method} {path} answered {status}, expected "
                             f"{'/'.join(map(str, expect))}: {text}")
        return status, msg, data


def csrf_of(page):
    text = page.decode("utf-8", "replace")
    for tag in re.findall(r"<input[^>]*>", text):
        if re.search(r'name="csrf_token"', tag):
            m = re.search(r'value="([^"]*)"', tag)
            if m:
                return html.unescape(m.group(1))
    raise BenchError("no <input name=\"csrf_token\"> on the page")


# --------------------------------------------------------------------------- boards

class Board(asyncio.Protocol):
    """One open board: reads its event stream, noting when each `board` event arrived and
    the Clicks figure it shows. Parses nothing else."""

    __slots__ = ("req", "transport", "head", "status", "ctype", "events", "keepalives",
                 "seen", "tail", "pending", "first", "done", "error", "ended", "bytes")

    def __init__(self, req, loop):
        self.req = req
        self.transport = None
        self.head = b""
        self.status = None
        self.ctype = ""
        self.events = 0
        self.keepalives = 0
        self.seen = []        # (monotonic time, Clicks figure shown) per board event
        self.tail = b""
        self.pending = False  # the tail starts with a Clicks figure not yet complete
        self.first = loop.create_future()   # the first board event arrived
        self.done = loop.create_future()    # the connection closed
        self.error = None
        self.ended = False
        self.bytes = 0

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.req)

    def _fail(self, why):
        if self.error is None:
            self.error = why
        if not self.first.done():
            self.first.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data):
        now = time.monotonic()
        self.bytes += len(data)
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self._fail("response head over 64 KiB")
                return
            head, data = self.head[:end].decode("latin-1"), self.head[end + 4:]
            self.head = b""
            lines = head.split("\r\n")
            try:
                self.status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                self._fail(f"bad status line {lines[0][:80]!r}")
                return
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-type":
                    self.ctype = v.strip()
            if self.status != 200:
                self._fail(f"status {self.status}")
                return
            if not self.ctype.startswith("text/event-stream"):
                self._fail(f"content type {self.ctype!r}")
                return
        tail_len = len(self.tail)
        s = self.tail + data if tail_len else data
        # Occurrences lying wholly in the tail were counted already.
        n = s.count(MARK_EVENT, max(0, tail_len - len(MARK_EVENT) + 1))
        if n:
            self.events += n
        self.keepalives += s.count(MARK_KEEPALIVE, max(0, tail_len - len(MARK_KEEPALIVE) + 1))
        if s.find(MARK_END, max(0, tail_len - len(MARK_END) + 1)) >= 0:
            self.ended = True
        pos = 0 if self.pending else max(0, tail_len - len(MARK_CLICKS) + 1)
        self.pending = False
        keep_from = None
        while True:
            i = s.find(MARK_CLICKS, pos)
            if i < 0:
                break
            j = i + len(MARK_CLICKS)
            k = s.find(b"<", j, j + 32)
            if k < 0:
                if len(s) - j < 32:   # the figure continues in the next read
                    keep_from = i
                    self.pending = True
                    break
                value = None
            else:
                try:
                    value = int(s[j:k].replace(b",", b"").strip())
                except ValueError:
                    value = None
            if value is not None:
                self.seen.append((now, value))
            pos = j
        keep = max(len(MARK_CLICKS), len(MARK_EVENT), len(MARK_KEEPALIVE)) - 1
        self.tail = s[keep_from:] if keep_from is not None else s[-keep:]
        if self.events and not self.first.done():
            self.first.set_result(True)

    def connection_lost(self, exc):
        if self.error is None and self.status is not None and self.status == 200:
            self.error = "closed by the server" + (f" ({exc})" if exc else "")
        elif self.error is None:
            self.error = f"closed before an answer ({exc})" if exc else "closed before an answer"
        if not self.first.done():
            self.first.set_result(False)
        if not self.done.done():
            self.done.set_result(True)

    def close(self):
        if self.transport is not None:
            self.error = self.error or "closed by the benchmark"
            self.transport.close()

    @property
    def open(self):
        return self.transport is not None and not self.transport.is_closing()


def board_request(port, stream_id, cookie):
    return (f"GET /influencer/streams/{stream_id}/live/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"User-Agent: {UA}\r\n"
            f"Accept: text/event-stream\r\n"
            f"Cache-Control: no-cache\r\n"
            f"Cookie: {cookie}\r\n\r\n").encode()


async def open_boards(port, req, count, batch, timeout, label):
    """Opens `count` boards, `batch` at a time, each batch waiting for its first events.
    Returns (boards, failures by reason, seconds)."""
    loop = asyncio.get_running_loop()
    boards, failures = [], {}
    started = time.monotonic()
    deadline = started + timeout

    async def one():
        b = Board(req, loop)
        try:
            await asyncio.wait_for(loop.create_connection(lambda: b, "127.0.0.1", port), 30)
        except (OSError, asyncio.TimeoutError) as e:
            b.error = f"connect: {type(e).__name__} {e}".strip()
            if not b.first.done():
                b.first.set_result(False)
        return b

    for start in range(0, count, batch):
        n = min(batch, count - start)
        new = await asyncio.gather(*(one() for _ in range(n)))
        boards += new
        left = deadline - time.monotonic()
        waiting = [b.first for b in new if not b.first.done()]
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=max(0.1, left))
            if pending:
                say(f"{label}: {len(pending)} of the last {n} boards had no first event "
                    f"within {timeout:.0f} s in all; going on without waiting")
                break
        ok = sum(1 for b in boards if b.first.done() and b.first.result())
        if (start // batch) % max(1, 2000 // batch) == 0 or start + n >= count:
            say(f"{label}: {len(boards)} opened, {ok} with their first event")
    for b in boards:
        if not (b.first.done() and b.first.result()):
            why = b.error or "no first event in time"
            failures[why] = failures.get(why, 0) + 1
    return boards, failures, time.monotonic() - started


async def close_boards(boards):
    for b in boards:
        b.close()
    waiting = [b.done for b in boards if not b.done.done()]
    if waiting:
        await asyncio.wait(waiting, timeout=10)


# --------------------------------------------------------------------------- wrk, probes

def parse_wrk(out):
    def num(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None
    r = {
        "rps": num(r"Requests/sec:\s+([\d.]+)"),
        "requests": num(r"(\d+) requests in", int),
        "non3xx": num(r"Non-2xx or 3xx responses:\s+(\d+)", int) or 0,
        "p50": None, "p99": None, "errors": "",
    }
    m = re.search(r"Socket errors:(.*)", out)
    if m:
        r["errors"] = m.group(1).strip()
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
            r["p" + q] = v
    if r["rps"] is None:
        raise BenchError("wrk printed no Requests/sec:\n" + out)
    return r


async def run_wrk(port, code, seconds, conns):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-H", f"User-Agent: {UA}",
           f"http://127.0.0.1:{port}/l/{code}"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        preexec_fn=_parent_death_signal)
    CHILDREN.append(proc)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 30)
    except asyncio.TimeoutError:
        proc.kill()
        raise BenchError(f"wrk did not finish within {seconds + 30} s")
    finally:
        if proc in CHILDREN and proc.returncode is not None:
            CHILDREN.remove(proc)
    if proc.returncode != 0:
        raise BenchError(f"wrk exited with {proc.returncode}:\n{out.decode(errors='replace')}")
    return parse_wrk(out.decode(errors="replace")), " ".join(cmd[:-1] + [cmd[-1]])


async def click(port, code, ua, timeout=10):
    """One click; returns (status, seconds from send to status line, monotonic at status)."""
    sent = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write((f"GET /l/{code} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {ua}\r\n"
                      f"Connection: close\r\n\r\n").encode())
        line = await asyncio.wait_for(reader.readline(), timeout)
        at = time.monotonic()
        try:
            status = int(line.split()[1])
        except (IndexError, ValueError):
            status = 0
        return status, at - sent, at
    finally:
        writer.close()


def until_clear_of_minute():
    """Seconds to wait so that a probe's event cannot meet the board's minute-boundary event
    (each board redraws as a minute begins; that event would hold the next one back a
    second). Probes go out between second 1.3 and 58.8 of the minute."""
    s = time.time() % 60
    if s >= 58.8:
        return 60 - s + 1.3
    if s < 1.3:
        return 1.3 - s
    return 0.0


# --------------------------------------------------------------------------- figures

def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q * len(sorted_vals)) - 1))
    return sorted_vals[k]


def latencies(boards, probes):
    """Per board x probe: the first event whose Clicks figure reaches the probe's click
    (base + k + 1) minus the probe's 302 time. Returns (latencies in ms, misses, boards with a
    miss, inconsistent bases)."""
    lat, misses, missed_boards, odd = [], 0, 0, 0
    bases = {}
    for b in boards:
        if not b.seen:
            odd += 1
            continue
        base = b.seen[0][1]
        bases[base] = bases.get(base, 0) + 1
        missed = False
        j = 0
        for k, (_, at302) in enumerate(probes):
            target = base + k + 1
            while j < len(b.seen) and b.seen[j][1] < target:
                j += 1
            if j < len(b.seen) and b.seen[j][0] - at302 <= MISS_AFTER:
                lat.append((b.seen[j][0] - at302) * 1000)
            else:
                misses += 1
                missed = True
        missed_boards += missed
    return lat, misses, missed_boards, odd, bases


def fmt_ms(v):
    return "n/a" if v is None or v != v else f"{v:,.1f} ms"


# --------------------------------------------------------------------------- the run

def pick_links(db_path, email):
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        raise BenchError(f"cannot open the demo database {db_path}: {e}")
    try:
        row = db.execute("SELECT i.id FROM influencers i JOIN users u ON u.id = i.user_id "
                         "WHERE u.email = ?", (email,)).fetchone()
        if row is None:
            raise BenchError(f"no influencer {email} in the demo database")
        influencer = row[0]
        probes = db.execute(
            "SELECT s.id, s.title, l.code FROM streams s JOIN links l ON l.stream_id = s.id "
            "WHERE s.influencer_id = ? AND s.ended_at IS NULL AND l.disabled_at IS NULL "
            "ORDER BY s.started_at IS NOT NULL, s.id, l.id", (influencer,)).fetchall()
        storms = db.execute(
            "SELECT s.id, l.code FROM links l JOIN streams s ON s.id = l.stream_id "
            "WHERE s.influencer_id <> ? AND l.disabled_at IS NULL ORDER BY l.id",
            (influencer,)).fetchall()
    except sqlite3.Error as e:
        raise BenchError(f"reading streams and links from {db_path}: {e}")
    finally:
        db.close()
    if not probes:
        raise BenchError(f"{email} has no stream with an enabled link that has not ended")
    if not storms:
        raise BenchError("no enabled link of another creator's stream for the storm")
    return probes, storms


def first_redirecting(port, rows, code_at):
    for row in rows:
        status, _, _ = request(port, "GET", f"/l/{row[code_at]}")
        if status == 302:
            return row
    raise BenchError(f"none of {len(rows)} candidate links answered 302")


async def bench(args, server, out):
    port = server.port
    cores = os.cpu_count()

    # Accounts, stream, links -------------------------------------------------------------
    email, password = server.accounts()
    probes_rows, storm_rows = pick_links(server.db_path, email)
    storm_stream, storm_code = first_redirecting(port, storm_rows, 1)
    session = Session(port)
    _, _, page = session.call("GET", "/login", expect=[200])
    session.call("POST", "/login", form={"email": email, "password": password,
                                         "csrf_token": csrf_of(page)}, expect=[302, 303])
    if "tandem_session" not in session.cookies:
        raise BenchError("POST /login set no tandem_session cookie")
    stream_id = probe_code = title = None
    for sid, t, code in probes_rows:
        status, _, page = session.call("GET", f"/influencer/streams/{sid}/live")
        if status != 200:
            continue
        status, _, _ = session.call("POST", f"/influencer/streams/{sid}/live/start",
                                    form={"csrf_token": csrf_of(page)})
        if status in (302, 303):
            stream_id, title, probe_code = sid, t, code
            break
        say(f"stream {sid}: live/start answered {status}; trying another")
    if stream_id is None:
        raise BenchError(f"could not mark any of {email}'s streams live")
    status, _, _ = request(port, "GET", f"/l/{probe_code}")
    if status != 302:
        raise BenchError(f"the probe link /l/{probe_code} answered {status}, not 302")
    req = board_request(port, stream_id, session.cookie_header())
    say(f"signed in as {email}; stream {stream_id} ({title!r}) is live; probe link "
        f"/l/{probe_code}; storm link /l/{storm_code} (stream {storm_stream})")
    out["setup"] = dict(email=email, stream=stream_id, title=title, probe=probe_code,
                        storm=storm_code, storm_stream=storm_stream)

    # One board first: does the event stream work at all?
    loop = asyncio.get_running_loop()
    test = Board(req, loop)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: test, "127.0.0.1", port), 10)
        await asyncio.wait_for(asyncio.shield(test.first), 15)
    except (OSError, asyncio.TimeoutError) as e:
        raise BenchError(f"the first board got no event within 15 s: {test.error or e}")
    if not test.first.result():
        raise BenchError(f"the first board failed: {test.error}")
    if not test.seen:
        raise BenchError("the board event shows no Clicks figure: the fragment's markup "
                         f"changed (looked for {MARK_CLICKS.decode()})")
    say(f"a board works: status 200 {test.ctype}, first event shows {test.seen[0][1]} clicks")
    await close_boards([test])

    out["rss_start"] = server.rss_kib()

    # 1. The storm without boards -----------------------------------------------------------
    say("warming up the redirect (3 s)")
    await run_wrk(port, storm_code, 3, args.connections)
    say(f"1. storm without boards: wrk {args.baseline}s, {args.connections} connections")
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    base, wrk_cmd = await run_wrk(port, storm_code, args.baseline, args.connections)
    out["base_cpu"] = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    out["base"], out["wrk_cmd"] = base, wrk_cmd
    say(f"   {base['rps']:,.0f} requests/s, p99 {fmt_ms(base['p99'])}")

    # 2. Boards under the storm -------------------------------------------------------------
    say(f"2. opening {args.boards} boards")
    boards, failures, took = await open_boards(port, req, args.boards, args.batch, 120,
                                               "   boards")
    live = [b for b in boards if b.first.done() and b.first.result()]
    out["boards_open"], out["boards_failures"], out["boards_took"] = len(live), failures, took
    out["rss_boards"] = server.rss_kib()
    say(f"   {len(live)} of {args.boards} boards had their first event after {took:.1f} s"
        + (f"; failures: {failures}" if failures else ""))
    if not live:
        raise BenchError("no board got its first event")
    for b in live:
        b.seen[:] = b.seen[-1:]   # keep the latest figure only: the base of the probes
    await asyncio.sleep(until_clear_of_minute() + 0.5)
    say(f"   storm: wrk {args.duration}s, probe click every {PROBE_EVERY} s")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    wrk_task = asyncio.ensure_future(run_wrk(port, storm_code, args.duration, args.connections))
    await asyncio.sleep(1.0)
    probes, probe_rtt, probe_bad = [], [], {}
    stop_at = t0 + args.duration - 2.0
    next_at = time.monotonic()
    n = 0
    while True:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.sleep(until_clear_of_minute())
        if time.monotonic() > stop_at or wrk_task.done():
            break
        n += 1
        try:
            status, rtt, at = await click(port, probe_code, f"{UA} probe/{n}")
        except (OSError, asyncio.TimeoutError) as e:
            status, rtt, at = f"{type(e).__name__}", None, None
        if status == 302:
            probes.append((n, at))
            probe_rtt.append(rtt * 1000)
        else:
            probe_bad[str(status)] = probe_bad.get(str(status), 0) + 1
            say(f"   probe {n} answered {status}")
        next_at = (at or time.monotonic()) + PROBE_EVERY
    storm, _ = await wrk_task
    out["storm_cpu"] = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out["script_cpu"] = ((ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime)
                         / (time.monotonic() - t0))
    await asyncio.sleep(MISS_AFTER + 0.5)   # the last probe's events
    out["storm"], out["probe_rtt"], out["probe_bad"] = storm, sorted(probe_rtt), probe_bad
    lat, misses, missed_boards, odd, bases = latencies(live, probes)
    lat.sort()
    out.update(lat=lat, misses=misses, missed_boards=missed_boards, odd=odd, bases=bases,
               probes=len(probes), samples=len(live) * len(probes))
    still = sum(1 for b in live if b.open)
    out["boards_still"] = still
    out["boards_ended"] = sum(1 for b in live if b.ended)
    out["boards_errors"] = {}
    for b in live:
        if not b.open:
            out["boards_errors"][b.error] = out["boards_errors"].get(b.error, 0) + 1
    say(f"   {storm['rps']:,.0f} requests/s with boards; {len(probes)} probes; latency p50 "
        f"{fmt_ms(pct(lat, .5))}, p99 {fmt_ms(pct(lat, .99))}; misses {misses}")
    if len(bases) > 1:
        say(f"   boards disagreed on the starting Clicks figure: {bases}")

    # 3. Memory with idle boards ------------------------------------------------------------
    say("3. closing the boards")
    closed_at = time.monotonic()
    await close_boards(boards)
    # The server lets go of a closed board when it notices (a read, or at the latest its
    # next write: the keep-alive comment every 15 s).
    deadline = closed_at + 45
    while True:
        c = server.connections()
        held = c["established"] + c["close_wait"]
        if held == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    out["release"] = (held, time.monotonic() - closed_at, c)
    if held:
        say(f"   the server still holds {held} connections 45 s after the boards closed: {c}")
    else:
        say(f"   the server let go of every board {out['release'][1]:.1f} s after they closed")
    await asyncio.sleep(2)
    rss0 = server.rss_kib()
    out["rss_before"] = rss0
    say(f"   RSS with no board: {rss0:,} KiB; opening {args.idle} idle boards")
    idle, failures, took = await open_boards(port, req, args.idle, args.idle_batch, 300,
                                             "   idle")
    ok = [b for b in idle if b.first.done() and b.first.result()]
    await asyncio.sleep(3)
    rss1 = server.rss_kib()
    out.update(idle_ok=len(ok), idle_failures=failures, idle_took=took, rss_idle=rss1,
               idle_fds=server.open_fds(), fd_limit=server.fd_limit(), threads=server.threads(),
               idle_conns=server.connections()["established"])
    say(f"   {len(ok)} of {args.idle} idle boards connected after {took:.1f} s; RSS "
        f"{rss1:,} KiB")

    # /healthz and CPU while they stay open: long enough for a keep-alive round (15 s) and a
    # session sweep (15 s).
    say(f"   /healthz every 0.25 s for {args.hold} s with the boards open")
    health, bad = [], 0
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    ka0 = sum(b.keepalives for b in ok)

    def check_health():
        t = time.perf_counter()
        try:
            status, _, _ = request(port, "GET", "/healthz", timeout=10)
        except OSError:
            status = 0
        return status, (time.perf_counter() - t) * 1000

    while time.monotonic() - t0 < args.hold:
        status, ms = await asyncio.to_thread(check_health)
        if status == 200:
            health.append(ms)
        else:
            bad += 1
        await asyncio.sleep(0.25)
    elapsed = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out.update(health=sorted(health), health_bad=bad,
               idle_cpu=(server.cpu_seconds() - cpu0) / elapsed,
               idle_script_cpu=(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime)
               / elapsed,
               idle_keepalives=sum(b.keepalives for b in ok) - ka0,
               idle_still=sum(1 for b in ok if b.open), idle_hold=elapsed,
               rss_idle_end=server.rss_kib(), hwm=server.status_kib("VmHWM"))
    say(f"   /healthz p50 {fmt_ms(pct(out['health'], .5))}, max "
        f"{fmt_ms(out['health'][-1] if health else None)}")
    await close_boards(idle)


def report(args, out):
    cores = os.cpu_count()
    s = out["setup"]
    base, storm = out["base"], out["storm"]
    lat = out["lat"]
    w = 44
    rows = []

    def row(label, value):
        rows.append(f"  {label:<{w}} {value}")

    print()
    print("=" * 78)
    print(f"Live board benchmark ({cores} cores shared by the server, wrk and this script; "
          f"SQLite)")
    print(f"stream {s['stream']} ({s['title']}) of {s['email']}; probe /l/{s['probe']}; "
          f"storm /l/{s['storm']} (stream {s['storm_stream']})")
    print("=" * 78)
    rows.append("1. Redirects, no board open")
    row(f"wrk -t1 -c{args.connections} -d{args.baseline}s requests/s", f"{base['rps']:,.0f}")
    row("  redirect latency p50 / p99 (wrk)", f"{fmt_ms(base['p50'])} / {fmt_ms(base['p99'])}")
    row("  server CPU (cores busy)", f"{out['base_cpu']:.2f}")
    if base["non3xx"] or base["errors"]:
        row("  non-3xx / socket errors", f"{base['non3xx']} / {base['errors'] or 'none'}")
    rows.append(f"2. {args.boards} boards open, storm again")
    row("boards with their first event", f"{out['boards_open']} of {args.boards} "
        f"(in {out['boards_took']:.1f} s)" + (f"; failed: {out['boards_failures']}"
                                               if out["boards_failures"] else ""))
    row(f"wrk -t1 -c{args.connections} -d{args.duration}s requests/s", f"{storm['rps']:,.0f}")
    row("  ratio to 1.", f"{storm['rps'] / base['rps']:.2f}")
    row("  redirect latency p50 / p99 (wrk)", f"{fmt_ms(storm['p50'])} / {fmt_ms(storm['p99'])}")
    if storm["non3xx"] or storm["errors"]:
        row("  non-3xx / socket errors", f"{storm['non3xx']} / {storm['errors'] or 'none'}")
    row("  server CPU / this script's CPU (cores)", f"{out['storm_cpu']:.2f} / "
        f"{out['script_cpu']:.2f}")
    prtt = out["probe_rtt"]
    row("probes clicked (302) / failed", f"{out['probes']} / "
        f"{sum(out['probe_bad'].values())}" + (f" {out['probe_bad']}" if out["probe_bad"] else ""))
    row("  probe click to its 302 p50 / max", f"{fmt_ms(pct(prtt, .5))} / "
        f"{fmt_ms(prtt[-1] if prtt else None)}")
    row("302 -> board event, samples", f"{len(lat):,} of {out['samples']:,} board x probe")
    row("  p50", fmt_ms(pct(lat, .5)))
    row("  p90", fmt_ms(pct(lat, .9)))
    row("  p99", fmt_ms(pct(lat, .99)))
    row("  max", fmt_ms(lat[-1] if lat else None))
    row("  min (negative: event before the 302)", fmt_ms(lat[0] if lat else None))
    row(f"probes missed (no event within {MISS_AFTER:.0f} s)", f"{out['misses']:,}, on "
        f"{out['missed_boards']} boards" + (f"; {out['odd']} boards without a figure"
                                            if out["odd"] else ""))
    row("boards still open after the storm", f"{out['boards_still']} of {out['boards_open']}"
        + (f" {out['boards_errors']}" if out["boards_errors"] else ""))
    rows.append(f"3. Memory, {args.idle} idle boards")
    held, after, c = out["release"]
    row("server let go of the closed boards", f"after {after:.1f} s" if not held else
        f"NO: {held} still held after {after:.0f} s ({c['close_wait']} in CLOSE_WAIT)")
    row("idle boards connected (first event)", f"{out['idle_ok']} of {args.idle} "
        f"(in {out['idle_took']:.1f} s)" + (f"; failed: {out['idle_failures']}"
                                             if out["idle_failures"] else ""))
    row("server RSS at start / after 2.", f"{out['rss_start']:,} / {out['rss_boards']:,} KiB")
    row("server RSS, no board open", f"{out['rss_before']:,} KiB")
    row(f"server RSS, {out['idle_ok']} boards open", f"{out['rss_idle']:,} KiB "
        f"({out['rss_idle_end']:,} KiB {out['idle_hold']:.0f} s later; peak {out['hwm']:,})")
    if out["idle_ok"]:
        row("  per board", f"{(out['rss_idle'] - out['rss_before']) / out['idle_ok']:.1f} KiB")
    row("  server connections / files / file limit", f"{out['idle_conns']} / "
        f"{out['idle_fds']} / {out['fd_limit']}")
    row("  server threads", f"{out['threads']}")
    h = out["health"]
    row(f"/healthz over {out['idle_hold']:.0f} s: answers", f"{len(h)} ok, {out['health_bad']} "
        "failed")
    row("  p50 / p99 / max", f"{fmt_ms(pct(h, .5))} / {fmt_ms(pct(h, .99))} / "
        f"{fmt_ms(h[-1] if h else None)}")
    row("  server CPU / this script's CPU (cores)", f"{out['idle_cpu']:.2f} / "
        f"{out['idle_script_cpu']:.2f}")
    row("  keep-alives received / boards still open", f"{out['idle_keepalives']:,} / "
        f"{out['idle_still']}")
    print("\n".join(rows))
    print()
    print("What the figures mean:")
    print(f"""  1. Requests/s: 302s answered by /l/<code> with no board open; each is a human
     click stored (the click writer commits it) before its 302. wrk's own latency.
  2. Boards: connections to the live stream's /live/events, all with one session cookie.
     The storm clicks another creator's stream, so it does not change the boards; one probe
     click on the live stream's link every {PROBE_EVERY} s does (probes skip the seconds
     around a minute's start, when every board redraws anyway). Latency: for each board and
     probe, the arrival of the board's first `board` event whose Clicks figure includes
     the probe, minus the arrival of the probe's 302 (the click is stored). It includes
     this script's own event-loop delay. A miss: no such event within {MISS_AFTER:.0f} s.
     Ratio: storm requests/s with the boards open over 1.
  3. RSS: VmRSS of the server process in /proc. Per board: (RSS with the idle boards
     open, 3 s after the last first event, minus RSS with none) / boards connected.
     /healthz: answer times with every board open, over a keep-alive round and a session
     sweep (both every 15 s).
  wrk, this script and the server share the machine's {cores} cores: requests/s and
  latencies are what the three do together, not the server's capacity alone.""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/tandem",
                    help="the tandem binary (default: target/release/tandem)")
    ap.add_argument("--boards", type=int, default=1000, help="boards open during the storm")
    ap.add_argument("--idle", type=int, default=10000, help="idle boards for the memory figure")
    ap.add_argument("--duration", type=int, default=20,
                    help="seconds of the storm with boards open (default 20)")
    ap.add_argument("--baseline", type=int, default=15,
                    help="seconds of the storm without boards (default 15)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--hold", type=int, default=20,
                    help="seconds the idle boards stay open for /healthz and CPU (default 20)")
    ap.add_argument("--batch", type=int, default=200, help="boards connected at once (storm)")
    ap.add_argument("--idle-batch", type=int, default=500, help="idle boards connected at once")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    if args.boards < 1 or args.idle < 1 or args.duration < 6 or args.baseline < 1:
        ap.error("--boards and --idle at least 1, --duration at least 6 s")

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"error: {args.binary} is not an executable: build it with "
                 f"`cargo build --release` or pass --binary")
    if shutil.which("wrk") is None:
        sys.exit("error: needs wrk on PATH (apt-get install wrk)")
    need = max(args.boards, args.idle) + 256
    try:
        soft, hard = raise_nofile(need)
    except (BenchError, ValueError, OSError) as e:
        sys.exit(f"error: {e}")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    workdir = tempfile.mkdtemp(prefix="tandem-live-bench-")
    port = args.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    server = Server(binary, workdir, port, need + 256)
    out = {}
    code = 0
    try:
        say(f"temporary folder {workdir}; open-file limit {soft} (script), {need + 256} "
            f"(server); {os.cpu_count()} cores shared by the server, wrk and this script")
        server.start()
        say(f"server pid {server.proc.pid} on 127.0.0.1:{port}: loading the demo data")
        server.wait_healthy(240)
        say(f"/healthz answers; server RSS {server.rss_kib():,} KiB")
        asyncio.run(bench(args, server, out))
        server.check_alive()
        report(args, out)
    except BenchError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        code = 130
    finally:
        end_children()
        if args.keep:
            print(f"kept {workdir} (server log: server.out, server.err; database t.db)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
