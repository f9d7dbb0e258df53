-- wrk: GET the paths in BENCH_TRACK_PATHS (one a line) in turn, as a browser
-- (a person's hits, so the bench counts them as the figures do).
local paths = {}
local i = 0

function init(args)
	for line in io.lines(os.getenv("BENCH_TRACK_PATHS")) do
		paths[#paths + 1] = line
	end
	i = math.random(#paths)
end

function request()
	i = i % #paths + 1
	return wrk.format("GET", paths[i], {
		["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
	})
end
