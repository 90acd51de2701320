-- POST /v3/auth/get_user_token (OpenIM v3) for a random one of the BENCH_USERS seeded users,
-- with the admin token BENCH_ADMIN_TOKEN. v3 answers failures with HTTP 200, so an answer
-- whose errCode is not 0 counts as unexpected.
dofile("bench/common.lua")
local admin_token = os.getenv("BENCH_ADMIN_TOKEN")
local users = tonumber(os.getenv("BENCH_USERS"))

function init(args)
  math.randomseed(os.time() * 100 + id)
  unexpected = 0
end

function request()
  local body = string.format('{"platformID":%d,"userID":"u%07d"}', math.random(1, 9), math.random(1, users))
  return wrk.format("POST", "/v3/auth/get_user_token", {
    ["Content-Type"] = "application/json",
    ["operationID"] = string.format("bench-%d", id),
    ["token"] = admin_token,
  }, body)
end

function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 13) ~= '{"errCode":0,' then
    unexpected = unexpected + 1
  end
end
