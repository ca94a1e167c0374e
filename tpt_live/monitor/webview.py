"""Local web view of a monitoring session: overlay video (MJPEG), state, alerts, activity plot, JSON status.

Routes: `/` the page, `/stream.mjpg` the overlay as multipart JPEG, `/frame.jpg` the latest overlay frame,
`/status.json` the state, the recent alerts and the activity history. A standard-library
`ThreadingHTTPServer` runs in a daemon thread. When a token is set (required for any bind address that is
not loopback), every request must carry it as `?token=...` or `Authorization: Bearer ...`; others get 401.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tpt_live.errors import InputError
from tpt_live.monitor.state import NOT_MEDICAL, LiveState

log = logging.getLogger(__name__)


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


def resolve_token(host: str, token: str | None) -> str | None:
    """The token the server will require: the given one, a generated one for non-loopback binds, else None."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(16)


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
` (confidence ${s.posture_confidence??"-"})`;
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


def _handler(live: LiveState, token: str | None, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            log.debug("web: " + format, *args)

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
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if not self._authorised():
                self._send(401, b"401: token required (?token=...)\n", "text/plain")
                return
            route = urlsplit(self.path).path
            q = f"?token={token}" if token else ""
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
                self._stream()
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
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


class WebView:
    """Serves `live` on host:port in a daemon thread until `close()`. `url` includes the token when set."""

    def __init__(self, live: LiveState, host: str, port: int, token: str | None) -> None:
        if not is_loopback(host) and not token:
            raise InputError(f"--serve {host}:{port} is reachable from other machines: it needs a --token")
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer((host, port), _handler(live, token, self._stop))
        self.server.daemon_threads = True
        self.token = token
        self.port = self.server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/" + (f"?token={token}" if token else "")
        self._thread = threading.Thread(target=self.server.serve_forever, name="tpt-web", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        time.sleep(0)  # let streaming handlers see the stop flag
