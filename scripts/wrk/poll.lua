-- GET PATH_TO_GET (default /v1/queue/tokens/current: the poll) for users OFFSET+1 … OFFSET+USERS (keys
-- and tokens made by bench.sh), round-robin; PATH_TO_GET=/v1/schedules/N/seats with admitted users: the seat map.
local users = tonumber(os.getenv("USERS") or "1000")
local offset = tonumber(os.getenv("OFFSET") or "0")
local path = os.getenv("PATH_TO_GET") or "/v1/queue/tokens/current"
local counter, thread_id = 0, 0
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) thread_id = id or 0 end
function request()
  counter = counter + 1
  local i = offset + ((counter * 2 + thread_id) % users) + 1
  return wrk.format("GET", path, {
    ["Authorization"] = "Bearer benchkey" .. i, ["X-Queue-Token"] = "benchtoken" .. i })
end
