-- bench/serve_post.lua — wrk script: POST one file as the body of every request.
--   wrk -s bench/serve_post.lua URL -- FILE [CONTENT-TYPE [DELAY_MS]]
-- The body is read once at start-up; every connection sends the same bytes.
-- DELAY_MS > 0: each connection waits that long before each request (a
-- steady rate of about connections * 1000 / DELAY_MS requests/s, for the soak).
-- At the end it prints one JSON line with the figures bench/serve.sh reads.
local body, ctype
function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  ctype = args[2] or "image/png"
  local d = tonumber(args[3] or "0")
  if d > 0 then
    delay = function() return d end
  end
end
function request()
  return wrk.format("POST", nil, {["Content-Type"] = ctype}, body)
end
function done(summary, latency, requests)
  local errs = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    errs.status, errs.connect, errs.read, errs.write, errs.timeout))
end
