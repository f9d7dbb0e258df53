-- wrk script: POST a JSON body. BENCH_BODY is the body (its %d, if any, takes
-- a counter modulo BENCH_MOD, so requests name BENCH_MOD different contacts);
-- BENCH_HEADER one more "Name: value" header (a token, a signature).
local counter = 0
local template, mod, hname, hvalue

function init(args)
  template = os.getenv("BENCH_BODY")
  mod = tonumber(os.getenv("BENCH_MOD") or "1")
  local h = os.getenv("BENCH_HEADER") or ""
  hname, hvalue = h:match("^([^:]+):%s*(.*)$")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if hname then wrk.headers[hname] = hvalue end
end

function request()
  counter = counter + 1
  local body = template
  if template:find("%%d") then body = string.format(template, counter % mod) end
  return wrk.format(nil, nil, nil, body)
end

local errors = 0
function response(status, headers, body)
  if status >= 300 and errors < 3 then
    errors = errors + 1
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
