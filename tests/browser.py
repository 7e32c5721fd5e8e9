"""Headless Chromium driven over the DevTools protocol, with nothing but the standard library.

Chromium's ``--remote-debugging-pipe`` reads protocol messages (JSON, each ending in a NUL byte) on its
file descriptor 3 and writes its answers and events on descriptor 4; no port, no WebSocket, no driver
binary, no Python dependency. Tests use it to load a page, run JavaScript in it, click and type as a
user would (real input events), and take screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_ENV = "HUBCHECK_CHROMIUM"


def find_chromium() -> str | None:
    """``$HUBCHECK_CHROMIUM``, else the first Chromium or Chrome on PATH."""
    configured = os.environ.get(BROWSER_ENV)
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return next((found for found in map(shutil.which, CANDIDATES) if found), None)


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page. ``profile`` is an empty folder for its user data."""

    def __init__(self, executable: str, profile: Path, width: int = 1400, height: int = 1000,
                 timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def descriptors_3_and_4() -> None:  # runs in the child, before exec
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self._log = open(profile / "chromium.log", "wb")  # Chromium's stderr; closed in close()
        self.profile = profile
        self.process = subprocess.Popen(
            [
                executable, "--headless", "--remote-debugging-pipe",
                # The page is one this test wrote; Chromium's sandbox cannot start as root in a container.
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            pass_fds=(3, 4), preexec_fn=descriptors_3_and_4,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=self.session)
            self.call("Emulation.setDeviceMetricsOverride", session=self.session, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    # -- the protocol ------------------------------------------------------------------------------

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            if "method" in answer:
                self.events.append(answer)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"Chromium did not answer within {self.timeout_s} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the pipe: {self._stderr()}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def _stderr(self) -> str:
        self._log.flush()
        return (self.profile / "chromium.log").read_text("utf-8", "replace")[-2000:]

    # -- what a test does with the page ------------------------------------------------------------

    def open(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        """Load ``url`` afresh (even when only its fragment differs from the page's) and wait until the
        JavaScript expression ``ready`` is true."""
        self.call("Page.navigate", session=self.session, url="about:blank")
        self.wait_for("location.href === 'about:blank'")
        self.call("Page.navigate", session=self.session, url=url)
        # Until the navigation commits, the old page (about:blank) answers: wait for the new address too.
        self.wait_for(f"location.href === {json.dumps(url)} && document.documentElement && ({ready})")

    def wait_for(self, expression: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if self.evaluate(f"Boolean({expression})"):
                    return
            except BrowserError:  # the document is being replaced
                pass
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serializable values only)."""
        answer = self.call("Runtime.evaluate", session=self.session, expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression!r} raised: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def click(self, selector: str) -> None:
        """A left click in the middle of the first element ``selector`` matches, as a mouse would."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        if box is None:
            raise BrowserError(f"nothing matches {selector}")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session=self.session, type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def type_text(self, selector: str, text: str) -> None:
        """Click into a field and type ``text`` (input events, as a keyboard would send)."""
        self.click(selector)
        self.call("Input.insertText", session=self.session, text=text)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 16000), "scale": 1}
        data = self.call("Page.captureScreenshot", session=self.session, **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self) -> list[str]:
        """Script exceptions and console or log errors (e.g. a Content-Security-Policy refusal) so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(json.dumps(params.get("args", []))[:500])
        return found

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for descriptor in (self._to_browser, self._from_browser):
            try:
                os.close(descriptor)
            except OSError:
                pass
        self._log.close()
