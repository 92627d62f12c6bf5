-- One benchmark scenario for wrk, configured by environment variables (set by bench/load.py):
--   BENCH_METHOD, BENCH_PATH, BENCH_TOKEN (bearer), BENCH_BODY, BENCH_CONTENT_TYPE,
--   BENCH_IDS (a file of item ids: each request asks for a random one under BENCH_PATH/).
-- done() prints one JSON line that bench/load.py parses.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local headers = {}
if os.getenv("BENCH_TOKEN") then headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") end
if os.getenv("BENCH_CONTENT_TYPE") then headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") end

local ids = {}
if os.getenv("BENCH_IDS") then
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

request = function()
  if #ids > 0 then
    return wrk.format(method, path .. "/" .. ids[math.random(#ids)], headers, body)
  end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
