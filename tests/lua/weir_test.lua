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

T.done()
