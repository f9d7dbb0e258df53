-- wrk script: POST a JSON body. BENCH_BODY is the body (its %d, if any, takes
-- a counter modulo BENCH_MOD, so requests name BENCH_MOD different contacts);
-- BENCH_HEADER one more "Name: value" header (a token, a signature).
-- The requests are formatted once, in init, and the answers are not handed
-- to Lua (no response function): wrk shares the two cores with the server,
-- and a Lua call to format each request and another to read each answer cost
-- the load generator more CPU than the request it measures. Answers that are
-- not 2xx or 3xx are counted by wrk itself ("Non-2xx or 3xx responses") and
-- reported at the end.
local requests = {}
local n, i = 0, 0

function init(args)
  local template = os.getenv("BENCH_BODY")
  local mod = tonumber(os.getenv("BENCH_MOD") or "1")
  local h = os.getenv("BENCH_HEADER") or ""
  local hname, hvalue = h:match("^([^:]+):%s*(.*)$")
  local headers = { ["Content-Type"] = "application/json" }
  if hname then headers[hname] = hvalue end
  if not template:find("%%d") then mod = 1 end
  for k = 1, mod do
    -- the same bodies, in the same order, as formatting each request did
    local body = template
    if template:find("%%d") then body = string.format(template, k % mod) end
    requests[k] = wrk.format("POST", nil, headers, body)
  end
  n = mod
end

function request()
  i = i % n + 1
  return requests[i]
end

function done(summary, latency, reqs)
  if summary.errors.status > 0 then
    io.stderr:write(summary.errors.status .. " answers were not 2xx or 3xx\n")
  end
end
