-- POST JSON bodies for wrk. WRK_BODIES: one or more JSON bodies separated by newlines; each request
-- picks one at random. At the end, print one machine-readable line: "WRKJSON {...}" (latency in µs).
local bodies = {}
for line in string.gmatch(os.getenv("WRK_BODIES") or "{}", "[^\n]+") do
  table.insert(bodies, line)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = bodies[1]

if #bodies > 1 then
  request = function()
    return wrk.format(nil, nil, nil, bodies[math.random(#bodies)])
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
