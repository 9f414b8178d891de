"""An OpenAI-compatible server on FastAPI, run by uvicorn as vLLM's and SGLang's are, answering
/v1/completions and /v1/chat/completions (streamed or not) in the shapes vLLM's
serving_completion and serving_chat write: chunks with id, object, created, model and choices
[{index, text | delta, logprobs, finish_reason, stop_reason}], the last with finish_reason
"length", a usage chunk with no choices when stream_options.include_usage asks for it, then
`data: [DONE]`. Every completion is `max_tokens` words, the first after IBENCH_TTFT_MS and each
next after IBENCH_ITL_MS. GET /count answers how many completions were asked for and how many
were sent to their end.

Run: python -m uvicorn openai_server:app --app-dir DIR --host 127.0.0.1 --port PORT
"""

import asyncio
import json
import os
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MODEL = "matrix-model"
TTFT = float(os.environ.get("IBENCH_TTFT_MS", "20")) / 1000
ITL = float(os.environ.get("IBENCH_ITL_MS", "10")) / 1000

app = FastAPI()
counts = {"received": 0, "completed": 0}


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def prompt_tokens(body: dict, chat: bool) -> int:
    if chat:
        return sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return len(str(body.get("prompt", "")).split())


def sse(payload) -> str:
    # Compact, as pydantic's model_dump_json writes vLLM's chunks.
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def word(i: int) -> str:
    return f" w{i}"


async def tokens(n: int):
    """Yields the i-th word of the completion when a model would have produced it."""
    await asyncio.sleep(TTFT)
    for i in range(n):
        if i:
            await asyncio.sleep(ITL)
        yield i, word(i)


def choice(chat: bool, text: str, finish_reason):
    if chat:
        return {"index": 0, "delta": {"content": text}, "logprobs": None,
                "finish_reason": finish_reason, "stop_reason": None}
    return {"index": 0, "text": text, "logprobs": None,
            "finish_reason": finish_reason, "stop_reason": None}


async def stream(body: dict, chat: bool, n: int, request_id: str, created: int):
    obj = "chat.completion.chunk" if chat else "text_completion"
    head = {"id": request_id, "object": obj, "created": created, "model": MODEL}
    if chat:
        # serving_chat's first chunk: the role, no content yet.
        first = {"index": 0, "delta": {"role": "assistant", "content": ""},
                 "logprobs": None, "finish_reason": None}
        yield sse({**head, "choices": [first]})
    async for i, text in tokens(n):
        finish = "length" if i == n - 1 else None
        yield sse({**head, "choices": [choice(chat, text, finish)]})
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        yield sse({**head, "choices": [], "usage": usage(prompt_tokens(body, chat), n)})
    yield "data: [DONE]\n\n"
    counts["completed"] += 1


async def complete(request: Request, chat: bool):
    body = await request.json()
    counts["received"] += 1
    n = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
    request_id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.get("stream"):
        return StreamingResponse(stream(body, chat, n, request_id, created),
                                 media_type="text/event-stream")
    text = "".join([t async for _, t in tokens(n)])
    if chat:
        choices = [{"index": 0, "message": {"role": "assistant", "content": text},
                    "logprobs": None, "finish_reason": "length", "stop_reason": None}]
    else:
        choices = [{"index": 0, "text": text, "logprobs": None, "finish_reason": "length",
                    "stop_reason": None, "prompt_logprobs": None}]
    counts["completed"] += 1
    return JSONResponse({"id": request_id, "object": "chat.completion" if chat else "text_completion",
                         "created": created, "model": MODEL, "choices": choices,
                         "usage": usage(prompt_tokens(body, chat), n)})


@app.post("/v1/completions")
async def completions(request: Request):
    return await complete(request, chat=False)


@app.post("/v1/chat/completions")
async def chat_completions(request: Request):
    return await complete(request, chat=True)


@app.get("/v1/models")
async def models():
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                        "owned_by": "vllm", "root": MODEL, "parent": None}]}


@app.get("/count")
async def count():
    return counts
