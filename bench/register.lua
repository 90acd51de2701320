-- POST /auth/user_register, each request with a fresh userID: BENCH_RUN prefix, thread id, counter.
dofile("bench/common.lua")
local secret = os.getenv("BENCH_SECRET")
local run = os.getenv("BENCH_RUN")
local counter = 0

function request()
  counter = counter + 1
  local user = string.format("%s-%d-%d", run, id, counter)
  local body = string.format(
    '{"secret":"%s","platform":%d,"userID":"%s","nickname":"bench user %d","gender":1,' ..
    '"email":"%s@example.com","operationID":"op-%s"}',
    secret, counter % 9 + 1, user, counter, user, user)
  return wrk.format("POST", "/auth/user_register", {["Content-Type"] = "application/json"}, body)
end
