"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: a page is loaded, its JavaScript runs,
and a test reads its DOM and takes screenshots, as a person's browser would show it.

The browser runs as a subprocess with a profile of its own and a debugging port on 127.0.0.1 only; it is ended
with the test. Skipped when there is no chromium (CI, which must run the test, fails instead).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"  # screenshots the tests keep (git ignores it)


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires chromium (make test installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


class Page:
    """One tab: commands in, answers out (events are read past)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        await self.socket.send_json({"id": number, "method": method, "params": params})
        async with asyncio.timeout(30):
            while True:
                message = await self.socket.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"DevTools connection ended: {message.type}")
                answer = json.loads(message.data)
                if answer.get("id") == number:
                    if "error" in answer:
                        raise AssertionError(f"{method}: {answer['error']}")
                    result: dict[str, Any] = answer.get("result", {})
                    return result

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def wait_for(self, expression: str, seconds: float = 10.0) -> float:
        """Until `expression` is truthy in the page; the seconds it took."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        guarded = f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"  # still loading
        while not await self.evaluate(guarded):
            if loop.time() - started > seconds:
                raise AssertionError(f"the page never showed {expression}; it shows:\n"
                                     f"{await self.evaluate('document.body && document.body.innerText')}")  # fmt: skip
            await asyncio.sleep(0.05)
        return loop.time() - started

    async def screenshot(self, name: str) -> Path:
        """A PNG of the whole page, kept in test-output/."""
        await self.send("Emulation.setDeviceMetricsOverride", width=1280, height=0, deviceScaleFactor=1, mobile=False)
        answer = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / name
        path.write_bytes(base64.b64decode(answer["data"]))
        return path


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A headless Chromium and a blank tab in it."""
    binary = chromium_binary()
    profile.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,1000", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            target = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                page = Page(socket)
                await page.send("Page.enable")
                yield page
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
