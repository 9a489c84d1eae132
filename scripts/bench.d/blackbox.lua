-- wrk script that drives blackbox_exporter the way Prometheus does: one GET /probe per probe.
-- Each request names the next of BB_TARGETS distinct target URLs (BB_TARGET_BASE .. i), so
-- every probe is for a different target, as in uptimer's runs. Each response is checked for
-- "probe_success 1"; the counts are printed by done() as one line the bench script parses.
--
-- Environment: BB_MODULE (blackbox module name), BB_TARGET_BASE (e.g. http://127.0.0.1:8080/t/),
-- BB_TARGETS (how many distinct targets to cycle through); or BB_TARGET, one target for every
-- probe (tcp, icmp and dns targets are a host or host:port, with no path to vary).

local module = os.getenv("BB_MODULE") or "http_2xx"
local fixed = os.getenv("BB_TARGET")
local base = os.getenv("BB_TARGET_BASE") or fixed or error("BB_TARGET_BASE or BB_TARGET must be set")
local n = tonumber(os.getenv("BB_TARGETS") or "1000")

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- Globals, not locals: done() reads them from each thread with thread:get().
next_target, ok, bad = 0, 0, 0
function init(args)
  -- Threads start at different points of the target list.
  next_target = (tid or 0) * 7919
end

local fixed_path = fixed and ("/probe?module=" .. module .. "&target=" .. urlencode(fixed))

function request()
  if fixed_path then
    return wrk.format("GET", fixed_path)
  end
  next_target = next_target + 1
  local target = base .. ((next_target % n) + 1)
  return wrk.format("GET", "/probe?module=" .. module .. "&target=" .. urlencode(target))
end

function response(status, headers, body)
  if status == 200 and body:find("\nprobe_success 1", 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do
    o = o + (t:get("ok") or 0)
    b = b + (t:get("bad") or 0)
  end
  io.write(string.format("BLACKBOX_RESULT ok=%d bad=%d\n", o, b))
end
