"""Local web view of a monitoring session: overlay video (MJPEG), state, alerts, activity plot, JSON status.

Routes: `/` the page, `/stream.mjpg` the overlay as multipart JPEG, `/frame.jpg` the latest overlay frame,
`/status.json` the state, the recent alerts and the activity history. A standard-library
`ThreadingHTTPServer` (listen backlog `BACKLOG`, at most `MAX_STREAMS` MJPEG clients) runs in a daemon
thread; a client that goes away mid-response is logged at debug level, never as a traceback.

Checks, in order, on every request:
- `Host` must name the bound address or a localhost name (`localhost`, `*.localhost`, a loopback IP); a
  wildcard bind (0.0.0.0, ::) also accepts any IP literal and this machine's host names. Anything else
  gets 403: a web page that re-points its own domain at 127.0.0.1 (DNS rebinding) cannot read the camera.
- `Origin`, when a browser sends one, must pass the same test (403 otherwise).
- When a token is set (required for any bind address that is not loopback), the request must carry it
  as `?token=...` or `Authorization: Bearer ...`; others get 401. The token comes from `--token`, else
  the environment variable `TPT_LIVE_TOKEN`, else the file named by `TPT_LIVE_TOKEN_FILE` (first line).
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tpt_live.errors import InputError
from tpt_live.monitor.state import NOT_MEDICAL, LiveState

log = logging.getLogger(__name__)
BACKLOG = 128  # pending connections the kernel queues (the standard library's default is 5)
MAX_STREAMS = 128  # concurrent MJPEG clients; more get 503 (each holds a thread)
CLIENT_TIMEOUT = 30.0  # seconds a client may take to send its request or accept data
TOKEN_ENV, TOKEN_FILE_ENV = "TPT_LIVE_TOKEN", "TPT_LIVE_TOKEN_FILE"
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


def parse_bind(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); InputError otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InputError(f"bad --serve {text!r}: use HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token_file(path: str | Path) -> str:
    """The token in a file: its first line, stripped; InputError when missing or empty."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"token file {path}: cannot be read ({exc.__class__.__name__}); check the path") from None
    if not lines or not lines[0].strip():
        raise InputError(f"token file {path} is empty: put the token on its first line")
    return lines[0].strip()


def resolve_token(
    host: str, token: str | None, token_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The token the server will require: `token`, else `token_file`'s, else $TPT_LIVE_TOKEN, else the file
    named by $TPT_LIVE_TOKEN_FILE; else a generated one for non-loopback binds, else None (loopback)."""
    env = os.environ if environ is None else environ
    if token:
        return token
    if token_file:
        return read_token_file(token_file)
    if env.get(TOKEN_ENV, "").strip():
        return env[TOKEN_ENV].strip()
    if env.get(TOKEN_FILE_ENV):
        return read_token_file(env[TOKEN_FILE_ENV])
    return None if is_loopback(host) else secrets.token_urlsafe(16)


def _wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def allowed_hosts(host: str) -> frozenset[str]:
    """Host names (lower case, no port) a request may name for a server bound to `host`."""
    names = {"localhost", host.lower()}
    if _wildcard(host) or not is_loopback(host):
        for name in (socket.gethostname(), socket.getfqdn()):
            if name:
                names |= {name.lower(), f"{name.lower()}.local"}
    return frozenset(names)


def host_allowed(value: str, bound: str, names: frozenset[str]) -> bool:
    """Whether a Host header value (`name[:port]`, `[v6]:port`) is acceptable for a server bound to `bound`."""
    try:
        name = (urlsplit(f"//{value.strip()}").hostname or "").rstrip(".").lower()
    except ValueError:  # a malformed port or bracket
        return False
    if not name:
        return False
    if name in names or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False  # a domain name we were not told about: a DNS rebinding attempt, or a stray link
    return ip.is_loopback or _wildcard(bound) or name == bound.lower()


def origin_allowed(origin: str, bound: str, names: frozenset[str]) -> bool:
    """A browser's Origin header (`scheme://host[:port]`, or `null`) against the same rules as Host."""
    parts = urlsplit(origin.strip())
    return parts.scheme in ("http", "https") and host_allowed(parts.netloc, bound, names)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tpt-live monitor</title>
<style>body{font-family:sans-serif;margin:1em;background:#111;color:#eee}#w{display:flex;gap:1em;flex-wrap:wrap}
.n{background:#a30;color:#fff;padding:.5em;font-weight:bold}td{padding:0 .6em}canvas{background:#222}</style></head>
<body><p class="n">__NOTICE__</p><div id="w"><img id="v" src="stream.mjpg__Q__" alt="live overlay" width="480">
<div><p id="e"></p><h3>State</h3><table id="s"></table><h3>Activity (movement energy, trunk lengths/s)</h3>
<canvas id="c" width="480" height="120"></canvas></div></div><h3>Alerts</h3><ul id="a"></ul>
<script>
const q="__Q__";function esc(x){return String(x).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]))}
async function tick(){try{const r=await fetch("status.json"+q);const d=await r.json();const s=d.state;
document.getElementById("e").textContent=`presence p=${s.presence??"-"}, posture ${s.posture??"-"}`+
` (confidence ${s.posture_confidence??"-"}, camera tilt ${s.camera_tilt??"-"} deg)`;
document.getElementById("s").innerHTML=Object.entries(d.state).map(([k,v])=>
`<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("");
document.getElementById("a").innerHTML=d.alerts.map(e=>
`<li>${esc(e.t)} s ${esc(e.event)}: ${esc(e.message)}</li>`).join("");
const c=document.getElementById("c"),g=c.getContext("2d"),a=d.activity;g.clearRect(0,0,c.width,c.height);
if(a.length>1){const t0=a[0][0],t1=a[a.length-1][0]||1,m=Math.max(0.5,...a.map(x=>x[1]));
g.strokeStyle="#4c4";g.beginPath();
a.forEach((x,i)=>{const X=(x[0]-t0)/(t1-t0||1)*c.width,Y=c.height-x[1]/m*c.height;i?g.lineTo(X,Y):g.moveTo(X,Y);
if(!x[2]){g.fillStyle="#633";g.fillRect(X,0,2,c.height)}});g.stroke()}}catch(e){}setTimeout(tick,1000)}tick();
</script></body></html>"""


class _Server(ThreadingHTTPServer):
    """The standard threading server with a real listen backlog and quiet client disconnects."""

    request_queue_size = BACKLOG
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, _DISCONNECTS):
            log.debug("web: %s went away (%s)", client_address, exc.__class__.__name__)
        else:
            log.warning("web: request from %s failed", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


def _handler(live: LiveState, token: str | None, stop: threading.Event, host: str) -> type[BaseHTTPRequestHandler]:
    names = allowed_hosts(host)
    streams = threading.BoundedSemaphore(MAX_STREAMS)

    class Handler(BaseHTTPRequestHandler):
        timeout = CLIENT_TIMEOUT  # HTTP/1.0 (the default): one request per connection, no idle keep-alive

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            log.debug("web: " + format, *args)

        def _refusal(self) -> tuple[int, bytes] | None:
            """(code, body) when the request must be refused before any route runs, else None."""
            given_host = self.headers.get("Host")
            if not given_host or not host_allowed(given_host, host, names):
                return 403, b"403: unknown Host header; open the address tpt-live printed (e.g. 127.0.0.1)\n"
            origin = self.headers.get("Origin")
            if origin is not None and not origin_allowed(origin, host, names):
                return 403, b"403: cross-origin request refused\n"
            if not self._authorised():
                return 401, b"401: token required (?token=...)\n"
            return None

        def _authorised(self) -> bool:
            if token is None:
                return True
            query = parse_qs(urlsplit(self.path).query)
            given = (query.get("token") or [""])[0]
            bearer = self.headers.get("Authorization", "")
            given = given or (bearer[7:] if bearer.startswith("Bearer ") else "")
            return secrets.compare_digest(given.encode(), token.encode())

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            refused = self._refusal()
            if refused is not None:
                self._send(refused[0], refused[1], "text/plain")
                return
            route = urlsplit(self.path).path
            q = f"?token={quote(token, safe='')}" if token else ""
            if route in ("/", "/index.html"):
                page = _PAGE.replace("__NOTICE__", html.escape(NOT_MEDICAL)).replace("__Q__", q)
                self._send(200, page.encode(), "text/html; charset=utf-8")
            elif route == "/status.json":
                self._send(200, json.dumps(live.status()).encode(), "application/json")
            elif route == "/frame.jpg":
                if live.jpeg is None:
                    self._send(503, b"no frame yet\n", "text/plain")
                else:
                    self._send(200, live.jpeg, "image/jpeg")
            elif route == "/stream.mjpg":
                if not streams.acquire(blocking=False):
                    self._send(503, b"503: too many video clients; use /frame.jpg\n", "text/plain")
                    return
                try:
                    self._stream()
                finally:
                    streams.release()
            else:
                self._send(404, b"not found\n", "text/plain")

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seq = -1
            try:
                while not stop.is_set():
                    seq, jpeg = live.wait_frame(seq, 1.0)
                    if jpeg is None:
                        continue
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
            except _DISCONNECTS:
                return

    return Handler


class WebView:
    """Serves `live` on host:port in a daemon thread until `close()`. `url` includes the token when set."""

    def __init__(self, live: LiveState, host: str, port: int, token: str | None) -> None:
        if not is_loopback(host) and not token:
            raise InputError(f"--serve {host}:{port} is reachable from other machines: it needs a --token")
        self._stop = threading.Event()
        handler = _handler(live, token, self._stop, host)
        try:
            self.server = (_Server6 if ":" in host else _Server)((host, port), handler)
        except OSError as exc:
            raise InputError(_bind_error(host, port, exc)) from None
        self.token = token
        self.port = self.server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/" + (f"?token={quote(token, safe='')}" if token else "")
        self._thread = threading.Thread(target=self.server.serve_forever, name="tpt-web", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving; streaming clients see the stop flag within a second."""
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        time.sleep(0)  # let streaming handlers see the stop flag


def _bind_error(host: str, port: int, exc: OSError) -> str:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return f"--serve {host}:{port}: the port is in use (another monitor?); pick another port, e.g. {host}:0"
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return f"--serve {host}:{port}: this machine has no such address; use 127.0.0.1 or 0.0.0.0"
    if exc.errno == errno.EACCES:
        return f"--serve {host}:{port}: not allowed to bind that port (ports below 1024 need root); use 8765"
    return f"--serve {host}:{port}: cannot listen ({exc.strerror or exc})"
