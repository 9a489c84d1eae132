-- wrk script for scripts/bench.d/status.sh: GET one path with the headers of a mode, optionally
-- paced, and one RESULT line at the end. Arguments are key=value after wrk's `--`:
--
--   wrk -tT -cC -dD -s status.lua URL -- path=/status/bench mode=gzip [rate=R threads=T] [etag=E]
--
--   mode=gzip         Accept-Encoding: gzip
--   mode=plain        no Accept-Encoding
--   mode=conditional  Accept-Encoding: gzip and If-None-Match: E; a 304 is a success, and a 200
--                     (the page changed meanwhile) hands its new ETag to the thread's next
--                     requests, as a cache revalidating would
--   rate=R threads=T  pace the run to R requests/s in all (T: wrk's -t)
--
-- Pacing: Debian has no wrk2 (-R), so this uses wrk's delay(): wrk calls it whenever a connection
-- is ready to send, and waits that many ms first. Each thread keeps a schedule of send times
-- T*1000/R ms apart on the monotonic clock (clock_gettime through LuaJIT's ffi) and gives each
-- ready connection the next one, so the T threads together send R requests/s as long as a
-- connection is free at each time. When every connection was busy (the server stalled), the
-- sends due meanwhile go out at once, late, to keep the rate: `late` counts those sent more than
-- LATE_MS (20, the goal's p95) after their time and `late_max_ms` is the worst. wrk times a
-- request from its write, so neither the wait in delay() nor that lateness is in the latency
-- figures (wrk2 would count it): a request in `late` took more than 20 ms from its due time
-- whatever wrk says, so 5 % of them late is a p95 over 20 ms. Without ffi the delay is a fixed
-- C*1000/R ms per connection (connections=C), a little under R in all, and nothing is late.
--
-- Statuses: a response() function makes wrk hand every body to Lua, which for a 1.7 MB page cut
-- wrk's own rate by two thirds on 2 cores; so only mode=conditional (mostly bodiless 304s) has
-- one, and counts `non2xx` (not 2xx, a 304 excepted), `not_modified`, `changed` (200s bringing
-- a new ETag) and `back` (of those, an ETag the thread had seen before). The other modes report
-- wrk's own count of statuses >= 400 as `non2xx` (a status page sends no 1xx or 3xx to a plain
-- GET).
local path, mode, rate, nthreads, conns, etag = "/", "gzip", 0, 1, 1, nil
local headers = {}
local seen = {}
local LATE_MS = 20

-- What every thread counts (globals, so that done() can read them through thread:get).
n_bad, n_304, n_changed, n_back, n_late, late_max, bad_status = 0, 0, 0, 0, 0, 0, ""
checks_statuses = false

local function monotonic_ms()
  local ok, ffi = pcall(require, "ffi")
  if not ok then return nil end
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } status_bench_ts;
    int clock_gettime(int clk_id, status_bench_ts *tp);
  ]]
  local ts = ffi.new("status_bench_ts")
  return function()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
end

local function conditional_response(status, hdrs, body)
  if status == 304 then
    n_304 = n_304 + 1
  elseif status >= 200 and status < 300 then
    local tag = hdrs["etag"] or hdrs["ETag"]
    if tag and tag ~= etag then
      n_changed = n_changed + 1
      if seen[tag] then n_back = n_back + 1 end
      seen[tag] = true
      etag = tag
    end
  else
    n_bad = n_bad + 1
    if #bad_status < 40 then bad_status = bad_status .. status .. "," end
  end
end

function init(args)
  for _, a in ipairs(args) do
    local k, v = string.match(a, "^([%w_]+)=(.*)$")
    if k == "path" then path = v
    elseif k == "mode" then mode = v
    elseif k == "rate" then rate = tonumber(v)
    elseif k == "threads" then nthreads = tonumber(v)
    elseif k == "connections" then conns = tonumber(v)
    elseif k == "etag" then etag = v
    else error("status.lua: unknown argument " .. a) end
  end
  assert(mode == "gzip" or mode == "plain" or mode == "conditional", "status.lua: mode=" .. mode)
  if mode ~= "plain" then headers["Accept-Encoding"] = "gzip" end
  if mode == "conditional" then
    assert(etag and etag ~= "", "status.lua: mode=conditional needs etag=")
    seen[etag] = true
    -- The ETag changes when the page does: the request is made anew each time.
    request = function()
      headers["If-None-Match"] = etag
      return wrk.format("GET", path, headers)
    end
    response = conditional_response
    checks_statuses = true
  else
    wrk.path = path
    for k, v in pairs(headers) do wrk.headers[k] = v end
  end
  if rate and rate > 0 then
    local step = nthreads * 1000 / rate
    local now_ms = monotonic_ms()
    if now_ms then
      local next_ms
      delay = function()
        local now = now_ms()
        next_ms = next_ms or now
        local wait = next_ms - now
        if wait < -LATE_MS then
          n_late = n_late + 1
          if -wait > late_max then late_max = -wait end
        end
        next_ms = next_ms + step
        return wait > 0 and math.floor(wait + 0.5) or 0
      end
    else
      local fixed = math.floor(conns * 1000 / rate + 0.5)
      delay = function() return fixed end
    end
  end
end

-- setup() and done() run in wrk's main Lua state, the threads each in their own.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local bad, nm, changed, back, late, lmax, statuses = 0, 0, 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + t:get("n_bad")
    nm = nm + t:get("n_304")
    changed = changed + t:get("n_changed")
    back = back + t:get("n_back")
    late = late + t:get("n_late")
    lmax = math.max(lmax, t:get("late_max"))
    statuses = statuses .. t:get("bad_status")
  end
  local e = summary.errors
  -- Without response(), wrk's own count (statuses >= 400); with it, ours (which includes those).
  if #threads == 0 or not threads[1]:get("checks_statuses") then bad = e.status end
  local s = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.1f errors=%d non2xx=%d" ..
    " not_modified=%d changed=%d back=%d late=%d late_max_ms=%.0f bytes=%d bad_status=%s\n",
    summary.requests, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect + e.read + e.write + e.timeout, bad,
    nm, changed, back, late, lmax, summary.bytes, statuses == "" and "-" or statuses))
end
