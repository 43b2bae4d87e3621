#!/usr/bin/env python3
"""Loads a local HTML file in headless Chromium over the DevTools protocol (--remote-debugging-pipe)
and reports, as one JSON object on stdout, what a person's browser would have met: console
errors, uncaught exceptions, every network request, and for each window width the page's
scrollWidth and a screenshot (PNG, kept) with the number of distinct colours in it.

Standard library only. Usage: devtools.py CHROMIUM FILE.html OUT_DIR WIDTH [WIDTH ...]
(each width W is loaded as a phone-like viewport, mobile=True, when W < 600, so that a page
without a viewport meta tag lays out 980 px wide there, as a phone does).
"""

import base64
import json
import os
import pathlib
import select
import struct
import subprocess
import sys
import tempfile
import time
import zlib

DEADLINE_S = 40.0


class Pipe:
    """The DevTools pipe: JSON messages separated by NUL, chromium reads fd 3, writes fd 4."""

    def __init__(self, chromium, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # Chromium expects its pipe on fds 3 (commands in) and 4 (messages out).
        def child():
            # Through fresh copies: either end may itself be fd 3 or 4.
            commands, messages = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(commands, 3)
            os.dup2(messages, 4)
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--hide-scrollbars",
             "--user-data-dir=" + profile, "about:blank"],
            close_fds=False, preexec_fn=child,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.started = time.monotonic()

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        return self.next_id

    def receive(self):
        while b"\0" not in self.buffer:
            left = DEADLINE_S - (time.monotonic() - self.started)
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.from_chrome], [], [], left)
            if not ready:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None):
        wanted = self.send(method, params, session)
        while True:
            message = self.receive()
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method):
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            message = self.receive()
            if message.get("method") == method:
                return message
            self.events.append(message)

    def close(self):
        try:
            self.send("Browser.close")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def png_colours(data, limit=64):
    """Distinct RGB(A) colours in a PNG (8-bit RGB or RGBA, non-interlaced), up to `limit`."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat = 8, b""
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, "unexpected PNG format"
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    colours = set()
    at = 0
    for _ in range(height):
        kind = raw[at]
        row = bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                row[i] = (row[i] + guess) & 0xFF
        for i in range(0, stride, bpp * 7):
            colours.add(bytes(row[i:i + bpp]))
        if len(colours) >= limit:
            return len(colours)
        previous = row
    return len(colours)


def main():
    chromium, page, out_dir = sys.argv[1], pathlib.Path(sys.argv[2]).resolve(), pathlib.Path(sys.argv[3])
    widths = [int(w) for w in sys.argv[4:]]
    out_dir.mkdir(parents=True, exist_ok=True)
    url = page.as_uri()
    result = {"url": url, "console": [], "exceptions": [], "log": [], "requests": [], "views": []}
    with tempfile.TemporaryDirectory(prefix="udpscope-chromium-") as profile:
        pipe = Pipe(chromium, profile)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.call(domain + ".enable", {}, session)
            for width in widths:
                mobile = width < 600
                pipe.call("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile},
                          session)
                pipe.call("Page.navigate", {"url": url}, session)
                pipe.wait_event("Page.loadEventFired")
                scroll = pipe.call("Runtime.evaluate",
                                   {"expression": "document.documentElement.scrollWidth",
                                    "returnByValue": True}, session)["result"]["value"]
                inner = pipe.call("Runtime.evaluate",
                                  {"expression": "window.innerWidth", "returnByValue": True},
                                  session)["result"]["value"]
                shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
                png = base64.b64decode(shot)
                path = out_dir / f"report-{width}.png"
                path.write_bytes(png)
                result["views"].append({"width": width, "mobile": mobile, "scroll_width": scroll,
                                        "inner_width": inner, "screenshot": str(path),
                                        "colours": png_colours(png)})
            # Whatever arrived while the pages loaded.
            for event in pipe.events:
                method, params = event.get("method"), event.get("params", {})
                if method == "Runtime.consoleAPICalled":
                    result["console"].append({"type": params.get("type"),
                                              "args": [a.get("value", a.get("description")) for a in params.get("args", [])]})
                elif method == "Runtime.exceptionThrown":
                    result["exceptions"].append(params.get("exceptionDetails", {}).get("text"))
                elif method == "Log.entryAdded":
                    entry = params.get("entry", {})
                    result["log"].append({"level": entry.get("level"), "text": entry.get("text"), "url": entry.get("url")})
                elif method == "Network.requestWillBeSent":
                    result["requests"].append(params.get("request", {}).get("url"))
                elif method == "Network.loadingFailed":
                    result["log"].append({"level": "error", "text": "loading failed: " + str(params.get("errorText"))})
        finally:
            pipe.close()
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
