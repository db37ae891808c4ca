-- wrk script for load_mix.py: the production mix, 90 % article pages, 9 % beacons, 1 % lead forms.
--
-- load_mix.py fetches everything a browser would hold before the run and hands it over in
-- BENCH_MIX (a file of tab-separated lines):
--   target <host:port>                        one line per instance; wrk thread i talks to target i mod n
--   article <path> <view token>               every published article, its page token from the rendered page
--   visitor <signed cabos_vid value>          returning readers
--   form <path> <name=session cookie> <body>  a guide's lead form: session + CSRF token, body without email
-- Every beacon is a new page view (fresh nonce) and every form a new address, so each one is
-- a real reading or a real contact. Counters (sent per kind, answers per status) are printed
-- by done() as "mix ..." lines that load_mix.py reads.
local targets, articles, visitors, forms = {}, {}, {}, {}
for line in io.lines(os.getenv("BENCH_MIX")) do
  local f = {}
  for field in string.gmatch(line, "[^\t]+") do f[#f + 1] = field end
  if f[1] == "target" then targets[#targets + 1] = f[2]
  elseif f[1] == "article" then articles[#articles + 1] = {path = f[2], token = f[3]}
  elseif f[1] == "visitor" then visitors[#visitors + 1] = f[2]
  elseif f[1] == "form" then forms[#forms + 1] = {path = f[2], session = f[3], body = f[4]} end
end
local ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

local threads, counter = {}, 0

-- Round robin by thread: thread i connects to instance i mod n (a load balancer that spreads
-- connections). Every thread has the same number of connections, so each instance gets an
-- equal share of them; its answers still come at its own pace.
function setup(thread)
  counter = counter + 1
  local host, port = string.match(targets[(counter - 1) % #targets + 1], "([^:]+):(%d+)")
  thread.addr = wrk.lookup(host, port)[1]
  thread:set("id", counter)
  thread:set("target", host .. ":" .. port)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(id * 7919 + os.time())
  sent = {article = 0, beacon = 0, form = 0}
  statuses = {}
  serial = 0
end

local function hex4() return string.format("%04x", math.random(0, 65535)) end

local function article_get()
  local a = articles[math.random(#articles)]
  return wrk.format("GET", a.path, {
    ["Host"] = target, ["User-Agent"] = ua, ["Accept"] = "text/html",
    ["Cookie"] = "cabos_vid=" .. visitors[math.random(#visitors)],
  })
end

local function beacon_post()
  local nonce = hex4() .. hex4() .. hex4() .. hex4() .. hex4() .. hex4() .. hex4() .. hex4()
  local body = string.format(
    '{"token":"%s","nonce":"%s","seq":0,"engaged_ms":%d,"scroll_pct":%d,"read_to_end":%s,'
      .. '"age_ms":%d,"ctas":[],"query":"%s","referrer":"","dnt":false,"webdriver":false}',
    articles[math.random(#articles)].token, nonce, math.random(0, 600000), math.random(0, 100),
    math.random() < 0.3 and "true" or "false", math.random(0, 900000),
    math.random() < 0.1 and "?utm_source=newsletter&utm_campaign=otono" or "")
  return wrk.format("POST", "/t/e", {
    ["Host"] = target, ["Content-Type"] = "text/plain;charset=UTF-8", ["User-Agent"] = ua,
    ["Origin"] = "http://" .. target, ["Cookie"] = "cabos_vid=" .. visitors[math.random(#visitors)],
  }, body)
end

local function form_post()
  local f = forms[math.random(#forms)]
  serial = serial + 1
  local email = string.format("lector-%d-%d-%s%s%%40empresa-bench.es", id, serial, hex4(), hex4())
  return wrk.format("POST", f.path, {
    ["Host"] = target, ["Content-Type"] = "application/x-www-form-urlencoded", ["User-Agent"] = ua,
    ["Origin"] = "http://" .. target, ["Referer"] = "http://" .. target .. f.path,
    ["Cookie"] = f.session .. "; cabos_vid=" .. visitors[math.random(#visitors)],
  }, f.body .. "&email=" .. email)
end

request = function()
  local roll = math.random(1000)
  if roll <= 900 then
    sent.article = sent.article + 1
    return article_get()
  elseif roll <= 990 then
    sent.beacon = sent.beacon + 1
    return beacon_post()
  end
  sent.form = sent.form + 1
  return form_post()
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals, answers = {article = 0, beacon = 0, form = 0}, {}
  for _, thread in ipairs(threads) do
    for kind, n in pairs(thread:get("sent")) do totals[kind] = totals[kind] + n end
    for status, n in pairs(thread:get("statuses")) do answers[status] = (answers[status] or 0) + n end
  end
  for kind, n in pairs(totals) do io.write(string.format("mix sent %s %d\n", kind, n)) end
  for status, n in pairs(answers) do io.write(string.format("mix status %d %d\n", status, n)) end
end
