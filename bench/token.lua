-- POST /auth/user_token for a random one of the BENCH_USERS seeded users (u0000001, ...).
dofile("bench/common.lua")
local secret = os.getenv("BENCH_SECRET")
local users = tonumber(os.getenv("BENCH_USERS"))

function init(args)
  math.randomseed(os.time() * 100 + id)
end

function request()
  local body = string.format(
    '{"secret":"%s","platform":%d,"userID":"u%07d","operationID":"bench-%d"}',
    secret, math.random(1, 9), math.random(1, users), id)
  return wrk.format("POST", "/auth/user_token", {["Content-Type"] = "application/json"}, body)
end
