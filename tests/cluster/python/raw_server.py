"""OpenAI-compatible completion servers at the edges of HTTP/1.x framing, on asyncio streams
(no HTTP library, so nothing smooths the bytes):

- `http10`: answers HTTP/1.0 with `Connection: close` and no length, the body ending with the
  connection, as servers built on Python's http.server do by default;
- `one-byte-chunks`: HTTP/1.1 keep-alive with a chunked body whose every chunk carries one byte,
  every byte of the response (head, chunk sizes, data, CRLFs) in a write of its own.

Both stream /v1/completions and /v1/chat/completions in vLLM's shape (openai_server.py), the
first token after IBENCH_TTFT_MS and each next after IBENCH_ITL_MS, and answer GET /count.
The one-byte server's count also lists, for each completion in the order they finished, the ms
from the request read to the first event's last byte written and to the response's last byte:
its latency is its own CPU share, which a client's read pattern changes, so a client's latency is
compared net of the server's.

Run: python raw_server.py MODE PORT
"""

import asyncio
import json
import sys

from openai_server import MODEL, TTFT, ITL, choice, sse, usage, prompt_tokens, word

counts = {"received": 0, "completed": 0}
timings_ms = []


async def read_request(reader):
    """(method, path, body) of the next request, or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def events(body: dict, chat: bool):
    """The SSE events of a completion, each with the delay before it."""
    obj = "chat.completion.chunk" if chat else "text_completion"
    head = {"id": "cmpl-raw", "object": obj, "created": 0, "model": MODEL}
    n = int(body.get("max_tokens") or 16)
    for i in range(n):
        finish = "length" if i == n - 1 else None
        yield (TTFT if i == 0 else ITL), sse({**head, "choices": [choice(chat, word(i), finish)]})
    yield 0, sse({**head, "choices": [], "usage": usage(prompt_tokens(body, chat), n)})
    yield 0, "data: [DONE]\n\n"


class Http10:
    """One request per connection; the body ends when the connection does."""

    async def handle(self, reader, writer):
        request = await read_request(reader)
        if request is not None:
            await self.answer(writer, *request)
        writer.close()

    async def answer(self, writer, method, path, body):
        if method == "GET":
            payload = json.dumps(counts if path == "/count" else
                                 {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(payload)}\r\n\r\n{payload}".encode())
            await writer.drain()
            return
        counts["received"] += 1
        request = json.loads(body)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for delay, event in events(request, path.endswith("/chat/completions")):
            await asyncio.sleep(delay)
            writer.write(event.encode())
            await writer.drain()
        counts["completed"] += 1


class OneByteChunks:
    """Keep-alive; every byte of a response is written on its own."""

    async def handle(self, reader, writer):
        # A client keeps a connection for a run at most; the count bounds the loop all the same.
        for _ in range(1_000_000):
            request = await read_request(reader)
            if request is None:
                break
            await self.answer(writer, *request)
        writer.close()

    async def bytewise(self, writer, data: bytes):
        # Each write of a transport with nothing buffered is a send() of its own: one segment a
        # byte (asyncio sets TCP_NODELAY). Draining after each would only cost the server CPU.
        for i in range(len(data)):
            writer.write(data[i:i + 1])
        await writer.drain()

    async def chunk(self, writer, data: bytes):
        for i in range(len(data)):
            await self.bytewise(writer, b"1\r\n" + data[i:i + 1] + b"\r\n")

    async def answer(self, writer, method, path, body):
        content_type = "application/json" if method == "GET" else "text/event-stream"
        await self.bytewise(writer, f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n".encode())
        if method == "GET":
            payload = ({**counts, "timings_ms": timings_ms} if path == "/count"
                       else {"object": "list", "data": [{"id": MODEL}]})
            await self.chunk(writer, json.dumps(payload).encode())
            await self.bytewise(writer, b"0\r\n\r\n")
            return
        clock = asyncio.get_running_loop().time
        start = clock()
        first = None
        counts["received"] += 1
        request = json.loads(body)
        for delay, event in events(request, path.endswith("/chat/completions")):
            await asyncio.sleep(delay)
            await self.chunk(writer, event.encode())
            first = first or clock()
        await self.bytewise(writer, b"0\r\n\r\n")
        timings_ms.append([round((first - start) * 1e3, 2), round((clock() - start) * 1e3, 2)])
        counts["completed"] += 1


async def main(mode: str, port: int):
    handler = {"http10": Http10, "one-byte-chunks": OneByteChunks}[mode]()
    server = await asyncio.start_server(handler.handle, "127.0.0.1", port)
    print(f"{mode} serving on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
