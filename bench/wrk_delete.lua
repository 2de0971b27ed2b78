-- wrk script: the worker's sweep workload without the worker. Each request
-- is a Vectara DELETE of a session never deleted before (so every answer is
-- the 204 success path, as in the sweep), with the API key header.
-- Usage: wrk -s bench/wrk_delete.lua http://127.0.0.1:PORT/vectara
-- (VECTARA_API_KEY in the environment).
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  n = 0
  prefix = wrk.path .. "/v2/agents/agt_wrk/sessions/ase_" .. tid .. "_"
  wrk.method = "DELETE"
  wrk.headers["x-api-key"] = os.getenv("VECTARA_API_KEY") or ""
end

function request()
  n = n + 1
  return wrk.format(nil, prefix .. n)
end
