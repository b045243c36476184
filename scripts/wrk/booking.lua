-- Shared by reserve.lua, reserve-paced.lua and hot-seat.lua: the fixtures of `stagedoor-load reserve --seconds 0
-- --fixtures <PREFIX>` (users <PREFIX>key<n> with active tokens <PREFIX>tok<n>, n = 1..USERS; the
-- schedules in SCHEDULES, ids comma-separated, SEATS seats each) and the request that books seat
-- number `index` of the run: seat index mod SEATS of schedule index div SEATS.
local booking = {}

local prefix = os.getenv("PREFIX")
local users = tonumber(os.getenv("USERS"))
local seats = tonumber(os.getenv("SEATS") or "1000")
local schedules = {}
for schedule in string.gmatch(os.getenv("SCHEDULES") or "", "%d+") do table.insert(schedules, schedule) end

-- The first seat index of the run (START, default 0).
booking.first_seat = tonumber(os.getenv("START") or "0")

-- With KEYED=1 each request carries an Idempotency-Key of its own, as docs/api.md's clients send to
-- make a reservation safe to retry.
local keyed = os.getenv("KEYED") == "1"

-- The request of fixture user number `user` for seat `seat` of schedule `schedule`.
function booking.reserve_as(user, schedule, seat)
  local headers = {
    ["Authorization"] = "Bearer " .. prefix .. "key" .. user,
    ["X-Queue-Token"] = prefix .. "tok" .. user,
    ["Content-Type"] = "application/json",
  }
  if keyed then headers["Idempotency-Key"] = "hold-" .. schedule .. "-" .. seat end
  return wrk.format("POST", "/v1/reservations", headers, '{"scheduleId": ' .. schedule .. ', "seatNo": ' .. seat .. '}')
end

function booking.request(index)
  local schedule = schedules[math.floor(index / seats) + 1]
  if schedule == nil then error("out of seats: make more schedules") end
  return booking.reserve_as(index % users + 1, schedule, index % seats + 1)
end

return booking
