-- The hot seat: REQUESTS reservations of one seat (seat 1 of schedule SCHEDULE), each by another
-- fixture user (<PREFIX>key<n> with active token <PREFIX>tok<n>, n = 1..REQUESTS, as
-- `stagedoor-load reserve --seconds 0 --fixtures <PREFIX> --users <REQUESTS>` writes them), sent
-- as fast as the connections go. Thread t of THREADS (wrk's -t) sends users t+1, t+1+THREADS, …;
-- a connection with nothing left to send waits. When every answer is in, wrk is interrupted, so
-- the run ends then (run it with a -d that bounds it) and prints: the time from the first send to
-- the last answer, the answers by status (409s by problem code), and each request's latency.
-- Requests as booking.lua makes them. Run from the repository's root.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } stagedoor_timespec;
int clock_gettime(int clock_id, stagedoor_timespec *tp);
void *calloc(size_t count, size_t size);
int getpid(void);
int kill(int pid, int sig);
]]
local clock = ffi.new("stagedoor_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: one clock for every thread
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

package.path = "scripts/wrk/?.lua;" .. package.path
local booking = require("booking")
local schedule = os.getenv("SCHEDULE")
local requests = tonumber(os.getenv("REQUESTS"))
local thread_count = tonumber(os.getenv("THREADS") or "2")

-- One flag per thread in memory every thread's Lua state can reach: set when the thread has all its
-- answers. The thread that sees every flag set interrupts wrk.
local threads = {}
local finished_flags = ffi.C.calloc(thread_count, ffi.sizeof("int"))
function setup(thread)
  thread:set("id", #threads)
  thread:set("flags", tonumber(ffi.cast("uintptr_t", finished_flags)))
  table.insert(threads, thread)
end

-- A connection calls delay() before each request and request() when the delay is over, and this
-- thread's connections interleave: delay() books one of the thread's requests, request() sends the
-- next booked one. wrk also calls request() once before the run to check the script: nothing is
-- booked then, and nothing is taken.
local next_user, share, booked, sent, answered = 0, 0, 0, 0, 0
first_sent, last_answer = 0, 0
statuses = {}
function init(args)
  next_user = id + 1
  share = math.floor((requests - id - 1) / thread_count) + 1
end

function delay()
  if booked >= share then return 100000000 end -- nothing left to send: wait for the end
  booked = booked + 1
  return 0
end

function request()
  local user = next_user
  if sent < booked then
    if sent == 0 then first_sent = now_ms() end
    sent = sent + 1
    next_user = next_user + thread_count
  end
  return booking.reserve_as(user, schedule, 1)
end

function response(status, headers, answer)
  local key = tostring(status)
  if status == 409 then key = key .. " " .. (string.match(answer, '"code": ?"([%w_]+)"') or "?") end
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  if answered == share then
    last_answer = now_ms()
    local all = ffi.cast("volatile int *", flags)
    all[id] = 1
    wrk.thread:stop()
    for t = 0, thread_count - 1 do
      if all[t] == 0 then return end
    end
    ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT: wrk stops sleeping out -d and reports
  end
end

function done(summary, latency, total)
  local counts, start, finish, answers = {}, math.huge, 0, 0
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("statuses")) do
      counts[key] = (counts[key] or 0) + count
      answers = answers + count
    end
    if thread:get("first_sent") > 0 then start = math.min(start, thread:get("first_sent")) end
    finish = math.max(finish, thread:get("last_answer"))
  end
  local parts = {}
  for key, count in pairs(counts) do table.insert(parts, key .. ": " .. count) end
  table.sort(parts)
  io.write(string.format("answered: %d of %d\n", answers, requests))
  io.write(string.format("elapsed: %.0f ms\n", answers == requests and finish - start or 0 / 0))
  io.write("statuses: " .. table.concat(parts, ", ") .. "\n")
  io.write(string.format("latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
