-- wrk script for scripts/bench.d/web.sh: requests PATTERN with %d replaced by a random target
-- number below N (wrk ... -s web.lua URL -- PATTERN N), and prints one RESULT line at the end.
local pattern, n = "/", 1

function init(args)
  pattern = args[1] or "/"
  n = tonumber(args[2] or "1")
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local path = pattern
  if string.find(pattern, "%%") then
    path = string.format(pattern, math.random(0, n - 1))
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  local s = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f errors=%d non2xx=%d\n",
    summary.requests, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
