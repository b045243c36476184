-- POST /v1/reservations on distinct seats, for the booking closed loop. Users <PREFIX>key<n> with
-- active tokens <PREFIX>tok<n> (n = 1..USERS) and the schedules in SCHEDULES (ids, comma-separated,
-- SEATS seats each) are made by `stagedoor-load reserve --seconds 0 --fixtures <PREFIX>`; seat k of
-- the run is seat k mod SEATS of schedule k div SEATS, from START on. Every answer is counted by
-- status and printed at the end ("statuses: 201=…"), so the run shows that each request booked a seat.
local prefix = os.getenv("PREFIX")
local users = tonumber(os.getenv("USERS"))
local seats = tonumber(os.getenv("SEATS") or "1000")
local start = tonumber(os.getenv("START") or "0")
local schedules = {}
for id in string.gmatch(os.getenv("SCHEDULES"), "%d+") do table.insert(schedules, id) end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- Thread i of THREADS (wrk's -t) books seats start + i, start + i + THREADS, …
local stride = tonumber(os.getenv("THREADS") or "2")
local k
statuses = {}
function init(args) k = start + id end

function request()
  local index = k
  k = k + stride
  local schedule = schedules[math.floor(index / seats) + 1]
  if schedule == nil then error("out of seats: make more schedules") end
  local user = index % users + 1
  return wrk.format("POST", "/v1/reservations", {
    ["Authorization"] = "Bearer " .. prefix .. "key" .. user,
    ["X-Queue-Token"] = prefix .. "tok" .. user,
    ["Content-Type"] = "application/json",
  }, '{"scheduleId": ' .. schedule .. ', "seatNo": ' .. (index % seats + 1) .. '}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do total[status] = (total[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(total) do table.insert(parts, status .. "=" .. count) end
  table.sort(parts)
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("latency: p50 %.1f ms, p99 %.1f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
