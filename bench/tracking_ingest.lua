-- wrk script for tracking_ingest.py: every request is a new page view (a fresh nonce) of
-- one of the demo articles, from one of many returning visitors (signed cookies); one in ten
-- arrives from a campaign (UTM parameters).
local tokens, cookies = {}, {}
for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do tokens[#tokens + 1] = t end
for line in io.lines(os.getenv("BENCH_COOKIES")) do cookies[#cookies + 1] = line end
local ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
local origin = os.getenv("BENCH_ORIGIN")

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed + os.time())
end

local function hex4() return string.format("%04x", math.random(0, 65535)) end

request = function()
  local nonce = hex4() .. hex4() .. hex4() .. hex4() .. hex4() .. hex4() .. hex4() .. hex4()
  local body = string.format(
    '{"token":"%s","nonce":"%s","seq":0,"engaged_ms":%d,"scroll_pct":%d,"read_to_end":false,'
      .. '"age_ms":%d,"ctas":[],"query":"%s","referrer":"","dnt":false,"webdriver":false}',
    tokens[math.random(#tokens)], nonce, math.random(0, 600000), math.random(0, 100), math.random(0, 900000),
    math.random() < 0.1 and "?utm_source=newsletter&utm_campaign=otono" or "")
  return wrk.format("POST", "/t/e", {
    ["Content-Type"] = "text/plain;charset=UTF-8", ["User-Agent"] = ua, ["Origin"] = origin,
    ["Cookie"] = "cabos_vid=" .. cookies[math.random(#cookies)],
  }, body)
end
