-- GET of a route the app does not have: the 404 answer goes through the full error envelope.
-- Every answer must be a 404; any other status counts as unexpected.
dofile("bench/common.lua")
unexpected = 0
wrk.method = "GET"
wrk.path = "/bench/no-such-route"

function response(status, headers, body)
  if status ~= 404 then
    unexpected = unexpected + 1
  end
end
