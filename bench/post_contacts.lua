-- wrk script: POST /api/v1/contacts with an address no other request uses.
-- The token comes from the environment (BENCH_TOKEN); each wrk thread gets
-- its own prefix, so threads and runs never collide (409s would measure the
-- duplicate path instead).
local counter = 0
local prefix

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1e9)) .. "-" .. tostring(os.time()))
end

function init(args)
  prefix = tid
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"p%s-%d@post.example","first_name":"Ann","tags":["vip","news"],"custom_fields":{"orders":%d}}',
    prefix, counter, counter % 50)
  return wrk.format(nil, nil, nil, body)
end

local errors = 0
function response(status, headers, body)
  if status ~= 201 and errors < 3 then
    errors = errors + 1
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
