-- GET /healthz: the gateway with no database work, the yardstick for the others.
function request() return wrk.format("GET", "/healthz") end
