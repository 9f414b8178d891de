"""The reference client the matrix compares ibench's latencies with: httpx, streaming
completions at a fixed rate, each request timed from its send to its first token (TTFT) and to
the end of its body. Prints one JSON object: {"sent", "ok", "failures": [...], "latency": {...},
"ttft": {...}} with p50 and p90 in seconds.

Run: python reference_client.py --url BASE --rate R --count N [--chat] [--max-tokens T]
     [--ca PEM] [--cert PEM --key PEM]
"""

import argparse
import asyncio
import json
import ssl
import time

import httpx


def percentile(values, q):
    """Linear interpolation between closest ranks, as numpy's default (and ibench's) does."""
    values = sorted(values)
    if not values:
        return None
    rank = (len(values) - 1) * q
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def text_of(chunk: dict) -> str:
    choices = chunk.get("choices") or [{}]
    return choices[0].get("text") or (choices[0].get("delta") or {}).get("content") or ""


async def one(client, url, body, results):
    start = time.perf_counter()
    ttft = None
    done = False
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                results["failures"].append(f"HTTP {response.status_code}")
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: "):]
                if data == "[DONE]":
                    done = True
                elif ttft is None and text_of(json.loads(data)):
                    ttft = time.perf_counter() - start
    except httpx.HTTPError as e:
        results["failures"].append(f"{type(e).__name__}: {e}")
        return
    if not done or ttft is None:
        results["failures"].append("stream ended without [DONE] or without a token")
        return
    results["latency"].append(time.perf_counter() - start)
    results["ttft"].append(ttft)


async def main(args):
    verify = True
    if args.ca:
        verify = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            verify.load_cert_chain(args.cert, args.key)
    chat = args.chat
    url = args.url.rstrip("/") + ("/v1/chat/completions" if chat else "/v1/completions")
    body = {"model": args.model, "max_tokens": args.max_tokens, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    prompt = " ".join(f"p{i}" for i in range(10))
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    results = {"failures": [], "latency": [], "ttft": []}
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(verify=verify, timeout=timeout) as client:
        start = time.perf_counter()
        tasks = []
        for i in range(args.count):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, url, body, results)))
        await asyncio.gather(*tasks)
    print(json.dumps({
        "sent": args.count,
        "ok": len(results["latency"]),
        "failures": results["failures"],
        "latency": {"p50": percentile(results["latency"], 0.5),
                    "p90": percentile(results["latency"], 0.9)},
        "ttft": {"p50": percentile(results["ttft"], 0.5), "p90": percentile(results["ttft"], 0.9)},
    }))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--chat", action="store_true")
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--model", default="matrix-model")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    asyncio.run(main(parser.parse_args()))
