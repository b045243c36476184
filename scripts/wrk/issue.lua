-- POST /v1/queue/tokens, each request by a user who has no token yet (issue users made by bench.sh).
local counter, thread_id = 0, 0
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) thread_id = id or 0 end
function request()
  counter = counter + 1
  local i = counter * 2 + thread_id - 1
  return wrk.format("POST", "/v1/queue/tokens", { ["Authorization"] = "Bearer issuekey" .. i })
end
