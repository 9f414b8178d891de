-- wrk script for bench/sim.sh: POSTs one completion request per call over keep-alive.
-- STREAM=1 asks for a streamed answer (16 tokens as 16 server-sent events).
local stream = os.getenv("STREAM") == "1"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
  '{"model":"ibench-sim","prompt":"the quick brown fox jumps over the lazy dog","max_tokens":16,"ignore_eos":true,"stream":%s}',
  stream and "true" or "false")

local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d non200=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, errors.status, errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
