-- GET /v1/schedules/SCHEDULE/seats for users OFFSET+1 … OFFSET+USERS (keys and active tokens made by
-- bench.sh), round-robin: the seat map an admitted fan reloads.
local users = tonumber(os.getenv("USERS") or "1000")
local offset = tonumber(os.getenv("OFFSET") or "0")
local schedule = os.getenv("SCHEDULE") or "1"
local counter, thread_id = 0, 0
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) thread_id = id or 0 end
function request()
  counter = counter + 1
  local i = offset + ((counter * 2 + thread_id) % users) + 1
  return wrk.format("GET", "/v1/schedules/" .. schedule .. "/seats", {
    ["Authorization"] = "Bearer benchkey" .. i, ["X-Queue-Token"] = "benchtoken" .. i })
end
