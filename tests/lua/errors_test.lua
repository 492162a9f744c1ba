-- SQL errors are objects with sqlstate, message, detail, hint, position and query; tostring
-- gives one readable line naming the script line and the query.
local T = require "testing"

db:exec "CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE, CHECK (id > 0))"

T.case("undefined table: 42P01 with the query and the script line", function()
  local err = T.raises(function() return db:query("SELECT * FROM missing_table") end)
  T.eq(err.sqlstate, "42P01")
  T.eq(err.message, 'relation "missing_table" does not exist')
  T.eq(err.query, "SELECT * FROM missing_table")
  T.eq(err.position, 15)
  T.eq(err.severity, "ERROR")
  local line = tostring(err)
  T.contains(line, "errors_test.lua:")
  T.contains(line, '42P01 relation "missing_table" does not exist in: SELECT * FROM missing_table')
  T.not_contains(line, "\n", "one line")
end)

T.case("unique violation: 23505 with detail", function()
  db:exec("INSERT INTO accounts VALUES (1, 'a@example.com')")
  local err = T.raises(db.exec, db, "INSERT INTO accounts VALUES ($1, $2)", 2, "a@example.com")
  T.eq(err.sqlstate, "23505")
  T.eq(err.detail, "Key (email)=(a@example.com) already exists.")
  T.contains(tostring(err), "(detail: Key (email)=(a@example.com) already exists.)")
end)

T.case("check violation: 23514", function()
  T.eq(T.raises(db.exec, db, "INSERT INTO accounts VALUES (-1, 'x')").sqlstate, "23514")
end)

T.case("syntax error: 42601 with position", function()
  local err = T.raises(db.exec, db, "SELECT 1 FROM WHERE")
  T.eq(err.sqlstate, "42601")
  T.eq(err.position, 15)
end)

T.case("undefined function: 42883 with the server's hint", function()
  local err = T.raises(db.value, db, "SELECT no_such_fn(1)")
  T.eq(err.sqlstate, "42883")
  T.contains(err.hint, "No function matches")
  T.contains(tostring(err), "hint: No function matches")
end)

T.case("errors from PL/pgSQL carry the context", function()
  local err = T.raises(db.exec, db, [[DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'P0001', HINT = 'try again'; END $$]])
  T.eq(err.sqlstate, "P0001")
  T.eq(err.message, "custom failure")
  T.eq(err.hint, "try again")
  T.contains(err.context, "PL/pgSQL")
end)

T.case("division by zero: 22012, and the connection stays usable", function()
  T.eq(T.raises(db.value, db, "SELECT 1/0").sqlstate, "22012")
  T.eq(db:value "SELECT 1", 1)
end)

T.case("misuse raises plain Lua errors naming the function", function()
  T.contains(T.raises(function() return db:query() end), "bad argument #1 to 'query'")
  T.contains(T.raises(function() return db:query({}) end),
    "bad argument #1 to 'query' (string expected, got table)")
  T.contains(T.raises(db.query, "not a connection", "SELECT 1"), "weir.Connection expected")
end)

T.case("long queries are shortened in the one-line message", function()
  local sql = "SELECT " .. string.rep("1 + ", 100) .. "nope"
  local line = tostring(T.raises(db.value, db, sql))
  T.contains(line, "...")
  T.ok(#line < 250, "short line")
  T.eq(T.raises(db.value, db, sql).query, sql, "the field keeps the whole query")
end)

T.done()
