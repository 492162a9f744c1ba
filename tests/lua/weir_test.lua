-- The weir and json modules' own functions, including their error paths.
local T = require "testing"

T.case("weir.version is a semantic version", function()
  T.ok(weir.version:match("^%d+%.%d+%.%d+$"), "version " .. weir.version)
end)

T.case("json.encode and json.decode round-trip, keeping arrays and objects apart", function()
  local v = json.decode [[{"a": [1, 2.5, null, true], "e": [], "o": {}, "s": "x\"y"}]]
  T.eq(v.a[1], 1)
  T.eq(math.type(v.a[1]), "integer")
  T.ok(v.a[3] == json.null and json.null == db.NULL, "null is db.NULL")
  T.eq(json.encode(v.e), "[]")
  T.eq(json.encode(v.o), "{}")
  T.eq(json.decode(json.encode(v)).s, 'x"y')
  T.eq(json.encode { 1, 2, 3 }, "[1,2,3]")
  T.eq(json.encode "text", '"text"')
end)

T.case("json.decode names the byte where the text went wrong", function()
  T.contains(T.raises(json.decode, '{"a": 1,}'), "json.decode: invalid JSON at byte 9")
  T.contains(T.raises(json.decode, ""), "json.decode: invalid JSON")
end)

T.case("json.encode refuses what JSON cannot hold", function()
  T.contains(T.raises(json.encode, { f = print }), "json.encode: cannot encode a function")
  T.contains(T.raises(json.encode, 0 / 0), "json.encode: cannot encode NaN")
  T.contains(T.raises(json.encode, { [true] = 1 }), "cannot encode a table key of type boolean")
end)

T.case("weir.checkpoint is refused outside a migration phase", function()
  T.contains(T.raises(weir.checkpoint, "k", 1), "weir.checkpoint: only available while a migration phase runs")
  T.contains(T.raises(weir.checkpoint, ""), "expected a non-empty string key")
end)

T.case("weir.list_dir lists sorted names, or says why it cannot", function()
  local names = weir.list_dir(os.getenv "WEIR_SOURCE_DIR" .. "/grammar")
  T.ok(#names >= 4, "grammar files")
  for i = 2, #names do T.ok(names[i - 1] < names[i], "sorted") end
  local none, why = weir.list_dir("/nonexistent/dir")
  T.eq(none, nil)
  T.contains(why, "/nonexistent/dir: No such file or directory")
end)

T.case("weir.sleep pauses, weir.clock measures, bad durations are refused", function()
  local t0 = weir.clock()
  weir.sleep(0.05)
  T.ok(weir.clock() - t0 >= 0.05, "slept at least 50 ms")
  T.contains(T.raises(weir.sleep, -1), "expected a non-negative number")
  T.contains(T.raises(weir.sleep, "x"), "number expected")
end)

-- The throwaway clusters this weir process owns: $TMPDIR/weir-pg-* whose marker names our pid
-- (other suites running in parallel start clusters of their own).
local function own_clusters()
  local pid = tonumber(io.open("/proc/self/stat"):read("l"):match("^(%d+)"))
  local tmpdir = (os.getenv "TMPDIR" or "/tmp"):gsub("/$", "")
  local found = {}
  for _, name in ipairs(weir.list_dir(tmpdir) or {}) do
    local f = name:match("^weir%-pg%-") and io.open(tmpdir .. "/" .. name .. "/weir-cluster.json")
    if f then
      local ok, marker = pcall(json.decode, f:read("a"))
      f:close()
      if ok and marker.pid == pid then found[#found + 1] = tmpdir .. "/" .. name end
    end
  end
  return found
end

T.case("weir.cluster starts a server of its own; close stops it and removes its directory", function()
  local c = weir.cluster {}
  local url = c:url()
  local dir = url:match("host=([^&]+)")
  T.eq(own_clusters(), { dir })
  local conn = weir.connect(url)
  T.eq(conn:value "SHOW data_directory", dir .. "/data")
  T.ok(conn:value "SHOW port" ~= db:value "SHOW port", "not the test cluster")
  conn:exec "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)"
  T.eq(conn:value "SELECT sum(x) FROM t", 3)
  conn:close()
  c:close()
  T.contains(T.raises(weir.connect, url), "cannot connect to " .. url)
  T.eq(own_clusters(), {})
  local none, why = weir.list_dir(dir)
  T.eq(none, nil)
  T.contains(why, "No such file or directory")
  c:close()  -- twice is harmless
  T.contains(T.raises(c.url, c), "attempt to use a closed cluster")
end)

T.case("weir.cluster refuses unknown options before starting anything", function()
  T.contains(T.raises(weir.cluster, { bogus = 1 }), "weir.cluster: unknown option 'bogus' (known: schema_from, with_data)")
  T.contains(T.raises(weir.cluster, "x"), "table expected, got string")
  T.contains(T.raises(weir.cluster, { with_data = { "s" } }), "weir.cluster: with_data needs schema_from")
  T.contains(T.raises(weir.cluster, { schema_from = "x", with_data = { 1 } }), "weir.cluster: with_data must be a list of strings")
  T.eq(own_clusters(), {})
end)

T.case("weir.cluster{with_data=} and weir.copy_schema copy the rows of the schemas named, no others", function()
  db:exec [[
    CREATE SCHEMA "Keep Rows";
    CREATE TABLE "Keep Rows".kept (id int PRIMARY KEY, v text);
    INSERT INTO "Keep Rows".kept VALUES (1, 'one'), (2, 'two');
    CREATE TABLE public.schema_only (id int);
    INSERT INTO public.schema_only VALUES (1);
  ]]
  local url = os.getenv "WEIR_TEST_URL"
  local c <close> = weir.cluster { schema_from = url, with_data = { "Keep Rows" } }
  local copy <close> = weir.connect(c:url())
  T.eq(copy:value [[SELECT string_agg(v, ',' ORDER BY id) FROM "Keep Rows".kept]], "one,two")
  T.eq(copy:value "SELECT count(*) FROM public.schema_only", 0)
  -- into an existing database on another server: the same
  local target <close> = weir.connect(c:url())
  target:exec "CREATE DATABASE copied"
  local copied_url = c:url():gsub("/postgres%?", "/copied?")
  weir.copy_schema { from = url, to = copied_url, with_data = { "Keep Rows" } }
  local copied <close> = weir.connect(copied_url)
  T.eq(copied:value [[SELECT count(*) FROM "Keep Rows".kept]], 2)
  T.eq(copied:value "SELECT count(*) FROM public.schema_only", 0)
  T.contains(T.raises(weir.copy_schema, { from = url }), "weir.copy_schema: from and to must be strings")
  T.contains(T.raises(weir.copy_schema, { from = url, to = copied_url, into = 1 }), "unknown option 'into'")
  db:exec [[DROP SCHEMA "Keep Rows" CASCADE; DROP TABLE public.schema_only]]
end)

T.case("weir.cluster names the failed pg_dump of schema_from and leaves no cluster behind", function()
  local err = T.raises(weir.cluster, { schema_from = "postgresql://nobody@127.0.0.1:1/nope" })
  T.contains(err, "pg cluster: pg_dump --schema-only of the target failed: pg_dump: error:")
  T.contains(err, "Connection refused")
  T.not_contains(err, "\n")
  T.eq(own_clusters(), {})
end)

T.case("sql.parse raises PostgreSQL's syntax error with the character position", function()
  local sql = require "sql"
  T.eq(T.raises(sql.parse, "selec 1"), 'sql.parse: syntax error at or near "selec" at character 1')
  T.eq(T.raises(sql.parse, "SELECT 1; selec 2"), 'sql.parse: syntax error at or near "selec" at character 11')
  T.eq(#sql.parse "SELECT 1; SELECT 2", 2)
end)

local url = assert(os.getenv "WEIR_TEST_URL")

T.case("weir.session_lock holds an advisory lock on a session of its own, and knows when it is lost", function()
  local a <close> = weir.session_lock(url, 7, 42, { application_name = "lock a", keepalive = 0.1 })
  local b <close> = weir.session_lock(url, 7, 42)
  T.eq(a:try(), true)
  T.eq(a:try(), true, "taking it again is a no-op")
  T.eq(b:try(), false, "one holder at a time")
  T.eq(a:check(), true)
  T.eq(a:lost(), nil)
  T.eq(db:value("SELECT application_name FROM pg_stat_activity WHERE pid = $1", a:pid()), "lock a")
  T.eq(db:value("SELECT setting FROM pg_settings WHERE name = 'idle_session_timeout'"), "0")
  T.eq(db:value([[SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 7 AND objid = 42
                   AND objsubid = 2 AND granted]]), a:pid())
  -- an administrator ends the lock's session: the keeper notices, check() agrees
  T.eq(db:value("SELECT pg_terminate_backend($1)", a:pid()), true)
  local deadline = weir.clock() + 30
  while not a:lost() do
    assert(weir.clock() < deadline, "the keeper never noticed")
    weir.sleep(0.05)
  end
  T.contains(a:lost(), "its session (backend pid " .. a:pid() .. ") ended")
  local held, why = a:check()
  T.eq(held, false)
  T.eq(why, a:lost())
  T.eq(b:try(), true, "the lock is free for the next one")
  b:release()
  b:release()
  T.contains(T.raises(b.try, b), "attempt to use a released lock")
  T.contains(T.raises(weir.session_lock, url, 1, 2 ^ 40), "expected a 32-bit integer key")
  T.contains(T.raises(weir.session_lock, url, 1, 2, { keepalive = 0 }), "keepalive must be a positive number")
end)

T.case("weir.deadline cancels the statement running when the time is up, once", function()
  local d <close> = weir.deadline(0.2)
  local err = T.raises(db.exec, db, "SELECT pg_sleep(30)")
  T.eq(err.sqlstate, "57014")
  T.eq(d:expired(), true)
  d:close()
  T.eq(d:expired(), true, "as it stood when closed")
  T.eq(db:value "SELECT 1", 1, "the connection goes on")
  local early = weir.deadline(30)
  T.eq(early:expired(), false)
  early:close()
  T.eq(early:expired(), false)
  T.contains(T.raises(weir.deadline, -1), "expected a non-negative number")
end)

T.case("json.array refuses a table that already has a metatable", function()
  local mt = {}
  local t = setmetatable({}, mt)
  T.contains(T.raises(json.array, t), "json.array: the table already has a metatable")
  T.ok(getmetatable(t) == mt, "the metatable is left as it was")
  T.eq(json.encode(json.array(json.array {})), "[]")
end)

T.done()
