-- wrk script: POSTs the GraphQL request bodies of the file named by BODIES_FILE (one JSON body
-- a line), each connection going round them in turn.
local bodies = {}
for line in io.lines(os.getenv("BODIES_FILE")) do
  if line ~= "" then bodies[#bodies + 1] = line end
end
local i = 0

request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/graphql-response+json",
  }, bodies[i])
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
