-- POST /v1/reservations on distinct seats, for the booking closed loop (fixtures and seats: see
-- booking.lua). Every answer is counted by status and printed at the end ("statuses: 201=…"), so
-- the run shows that each request booked a seat. Run from the repository's root.
package.path = "scripts/wrk/?.lua;" .. package.path
local booking = require("booking")

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- Thread i of THREADS (wrk's -t) books seats START + i, START + i + THREADS, …
local stride = tonumber(os.getenv("THREADS") or "2")
local k
statuses = {}
function init(args) k = booking.first_seat + id end

function request()
  local index = k
  k = k + stride
  return booking.request(index)
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
