-- Parameters are bound, never spliced: hostile text is stored verbatim, and values that cannot
-- be bound are refused with a clear error before anything reaches the server.
local T = require "testing"

db:exec "CREATE TABLE notes (id serial PRIMARY KEY, body text)"

T.case("quotes and an injection attempt are stored verbatim", function()
  local hostile = {
    "'; DROP TABLE notes; --",
    "Robert'); DROP TABLE notes;--",
    [[back\slash and "double" and 'single' quotes]],
    "$1 $2 ? %s {{}}",
    "multi\nline\r\nwith\ttabs",
    "unicode: ✓ ∑ 日本語 🚀",
  }
  for _, text in ipairs(hostile) do
    local id = db:value("INSERT INTO notes (body) VALUES ($1) RETURNING id", text)
    T.eq(db:value("SELECT body FROM notes WHERE id = $1", id), text)
  end
  T.eq(db:value "SELECT count(*) FROM notes", #hostile, "the table survived")
  T.eq(db:value("SELECT count(*) FROM notes WHERE body = $1", "'; DROP TABLE notes; --"), 1)
end)

T.case("a parameter is a value, never SQL", function()
  T.eq(db:value("SELECT $1::text", "1; SELECT 2"), "1; SELECT 2")
  T.eq(db:value("SELECT count(*) FROM notes WHERE body = $1", "x' OR '1'='1"), 0)
end)

T.case("a plain table is refused with a clear error", function()
  local err = T.raises(function() return db:query("SELECT $1", { 1, 2 }) end)
  T.contains(err, "db:query: parameter $1: cannot bind a table; wrap it in db.json() or db.array()")
  T.contains(err, "params_test.lua:", "the error names the script line")
end)

T.case("functions and coroutines cannot be bound", function()
  T.contains(T.raises(db.value, db, "SELECT $2", 1, print), "parameter $2: cannot bind a function value")
  T.contains(T.raises(db.exec, db, "SELECT $1", coroutine.create(print)), "cannot bind a thread value")
end)

T.case("a string with a zero byte must be wrapped as bytea", function()
  T.contains(T.raises(db.value, db, "SELECT $1", "a\0b"), "wrap binary data in db.bytea()")
  T.eq(db:value("SELECT $1::bytea", db.bytea "a\0b"), "a\0b")
end)

T.case("NaN and infinities bind as floats", function()
  T.eq(db:value("SELECT $1 = 'Infinity'::float8", math.huge), true)
  T.eq(db:value("SELECT $1::text", 0 / 0):lower(), "nan")
end)

T.case("db.json refuses what JSON cannot hold", function()
  local cyclic = {}
  cyclic.self = cyclic
  T.contains(T.raises(db.value, db, "SELECT $1", db.json(cyclic)), "contains itself")
  T.contains(T.raises(db.value, db, "SELECT $1", db.json { f = print }), "cannot encode a function")
  T.contains(T.raises(db.value, db, "SELECT $1", db.json { 0 / 0 }), "cannot encode NaN")
  T.contains(T.raises(db.value, db, "SELECT $1", db.json { "\255" }), "cannot encode as JSON")
end)

T.case("too few parameters is the server's error, with its SQLSTATE", function()
  local err = T.raises(db.value, db, "SELECT $1::int + $2::int", 1)
  T.eq(err.sqlstate, "08P01")
end)

T.done()
