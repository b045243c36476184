-- POST /v1/queue/tokens, each request by a user who has no token yet (issue users made by bench.sh):
-- users OFFSET+1, OFFSET+2, …; with ROOMS > 0, spread over rooms 2 … ROOMS+1 ({"roomId": N}),
-- else room 1 (no body).
local rooms = tonumber(os.getenv("ROOMS") or "0")
local offset = tonumber(os.getenv("OFFSET") or "0")
local counter, thread_id = 0, 0
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) thread_id = id or 0 end
function request()
  counter = counter + 1
  local i = offset + counter * 2 + thread_id - 1
  local headers = { ["Authorization"] = "Bearer issuekey" .. i }
  if rooms > 0 then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/v1/queue/tokens", headers, '{"roomId": ' .. (2 + i % rooms) .. '}')
  end
  return wrk.format("POST", "/v1/queue/tokens", headers)
end
