-- POST the JSON file named by BODY_FILE (set by benches/http-load.sh) to the wrk URL.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.body = f:read("*a")
f:close()
