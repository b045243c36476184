-- POST /v1/reservations on distinct seats at a fixed RATE (requests/s): the booking open loop.
-- Run with one connection per thread (wrk -tC -cC, CONNECTIONS=C), so each thread's script state is
-- one connection's. Request g of the run (g = 0, 1, …) is due at start + g/RATE and is sent by
-- connection g mod C; a connection sends its next request when it is due, or at once if its last
-- answer came later than that. Latency counts from the due time, not from the send, so a stall
-- that holds requests back is measured in full (no coordinated omission). Requests are due for
-- SEND_SECONDS; run wrk a few seconds longer (-d) so every answer arrives before it stops.
-- With TIMELINE=1 it also prints, per second of the run (by due time), the worst latency and how
-- many answers took over 50 ms: one stall and a tail spread over the run look alike in a p99.
-- Fixtures and seats: see booking.lua. Run from the repository's root.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } stagedoor_timespec;
int clock_gettime(int clock_id, stagedoor_timespec *tp);
]]
local clock = ffi.new("stagedoor_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: one clock for every thread
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

package.path = "scripts/wrk/?.lua;" .. package.path
local booking = require("booking")
local rate = tonumber(os.getenv("RATE"))
local connections = tonumber(os.getenv("CONNECTIONS"))
local send_ms = tonumber(os.getenv("SEND_SECONDS")) * 1000

local threads = {}
-- The run starts a second after the script is loaded (time for wrk to make its threads and
-- connect), the same instant for every thread: `start`, set in each thread by setup.
local run_start = now_ms() + 1000
function setup(thread)
  thread:set("id", #threads)
  thread:set("start", run_start)
  table.insert(threads, thread)
end

local k = 0 -- requests this connection has sent
local due -- when the request in flight was due
-- wrk calls request() once before the run to check the script (in the first thread's state);
-- each real request follows a delay() call, so only those count.
local paced = false
latencies = {} -- in 0.1 ms buckets
statuses = {}
sent = 0
worst = {} -- per second of due time: the slowest answer, ms
slow = {} -- per second of due time: answers over 50 ms

local function next_due() return start + (id + k * connections) * 1000 / rate end

function delay()
  paced = true
  local at = next_due()
  if at - start >= send_ms then return 100000000 end -- done sending: wait out the run
  return math.max(0, math.floor(at - now_ms()))
end

function request()
  local index = booking.first_seat + id + k * connections
  if paced then
    paced = false
    due = next_due()
    k = k + 1
    sent = sent + 1
  end
  return booking.request(index)
end

function response(status, headers, body)
  local took = now_ms() - due
  local bucket = math.floor(took * 10)
  latencies[bucket] = (latencies[bucket] or 0) + 1
  local second = math.floor((due - start) / 1000)
  worst[second] = math.max(worst[second] or 0, took)
  if took > 50 then slow[second] = (slow[second] or 0) + 1 end
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local buckets, total, statusTotal, sentTotal = {}, 0, {}, 0
  local worstTotal, slowTotal = {}, {}
  for _, thread in ipairs(threads) do
    for second, ms in pairs(thread:get("worst")) do worstTotal[second] = math.max(worstTotal[second] or 0, ms) end
    for second, count in pairs(thread:get("slow")) do slowTotal[second] = (slowTotal[second] or 0) + count end
    for bucket, count in pairs(thread:get("latencies")) do
      buckets[bucket] = (buckets[bucket] or 0) + count
      total = total + count
    end
    for status, count in pairs(thread:get("statuses")) do statusTotal[status] = (statusTotal[status] or 0) + count end
    sentTotal = sentTotal + thread:get("sent")
  end
  local order = {}
  for bucket in pairs(buckets) do table.insert(order, bucket) end
  table.sort(order)
  local function percentile(p)
    local wanted, seen = math.ceil(total * p / 100), 0
    for _, bucket in ipairs(order) do
      seen = seen + buckets[bucket]
      if seen >= wanted then return bucket / 10 end
    end
    return 0 / 0
  end
  local parts = {}
  for status, count in pairs(statusTotal) do table.insert(parts, status .. "=" .. count) end
  table.sort(parts)
  io.write(string.format("paced: %d sent, %d answered, at %d/s for %d s over %d connections\n",
    sentTotal, total, rate, send_ms / 1000, connections))
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("latency from the intended send time: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    percentile(50), percentile(99), percentile(100)))
  if os.getenv("TIMELINE") == "1" then
    for second = 0, math.ceil(send_ms / 1000) - 1 do
      io.write(string.format("second %d: max %.1f ms, %d over 50 ms\n", second, worstTotal[second] or 0, slowTotal[second] or 0))
    end
  end
end
