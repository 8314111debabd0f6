-- POST /api/v1/memories/search with a different query text on every request,
-- so each one pays for a real embedding (no cache hits). Run with one wrk thread.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"query":"what did user %d note about item %d?","namespace":"bench","limit":10}',
    n % 100, n)
  return wrk.format(nil, "/api/v1/memories/search", nil, body)
end
