"""A small HTTP/1.1 proxy on loopback that injects faults: answers 429 with Retry-After, drops
connections before forwarding or after the server answered (the client never sees the ack)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, List, Tuple

Plan = Callable[[int, str, str], str]  # (index of the request, method, path) -> pass|429|drop|drop_after


class FaultProxy:
    def __init__(self, upstream_port: int, plan: Plan, retry_after: float = 1.0) -> None:
        self.upstream_port, self.plan, self.retry_after = upstream_port, plan, retry_after
        self.port = 0  # bound by the proxy itself (port 0: the system's choice, no window for another process)
        self.log: List[Tuple[float, str, str, str]] = []  # (monotonic time, action, method, path)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("the fault proxy did not start listening within 10 s")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                kept = [lines[0]]
                for ln in lines[1:]:
                    if ln.lower().startswith("content-length:"):
                        length = int(ln.split(":", 1)[1])
                    if ln and not ln.lower().startswith("connection:"):
                        kept.append(ln)
                body = await reader.readexactly(length) if length else b""
                action = self.plan(len(self.log), method, path)
                self.log.append((time.monotonic(), action, method, path))
                if action == "429":
                    msg = b'{"detail": "slow down"}'
                    writer.write(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: %g\r\nContent-Type: "
                                 b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (self.retry_after, len(msg), msg))
                    await writer.drain()
                    continue
                if action == "drop":
                    return
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                up_w.write(("\r\n".join(kept + ["Connection: close", "", ""])).encode("latin-1") + body)
                await up_w.drain()
                answer = await up_r.read()
                up_w.close()
                if action == "drop_after":
                    return  # the server stored it; the client never hears so
                writer.write(answer)
                await writer.drain()
                return  # the answer said Connection: close
        finally:
            writer.close()
