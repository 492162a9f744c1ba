-- Connections: weir.connect, named connections, closing, facts, quoting.
local T = require "testing"

local url = os.getenv "WEIR_TEST_URL"

T.case("weir.connect opens an independent connection", function()
  local other <close> = weir.connect(url)
  T.ok(other:value "SELECT pg_backend_pid()" ~= db:value "SELECT pg_backend_pid()", "a second session")
  db:exec "CREATE TABLE IF NOT EXISTS seen (x int)"
  db:tx(function()
    db:exec "INSERT INTO seen VALUES (1)"
    T.eq(other:value "SELECT count(*) FROM seen", 0, "uncommitted rows are invisible to the other")
  end)
  T.eq(other:value "SELECT count(*) FROM seen", 1)
end)

T.case("a closed connection raises a clear error; closing twice is harmless", function()
  local c = weir.connect(url)
  c:close()
  c:close()
  T.contains(T.raises(c.value, c, "SELECT 1"), "attempt to use a closed connection")
  T.eq(c:transaction_status(), "closed")
  T.contains(tostring(c), "closed")
end)

T.case("a <close> variable closes the connection at scope exit", function()
  local kept
  do
    local c <close> = weir.connect(url)
    kept = c
    T.eq(c:value "SELECT 1", 1)
  end
  T.contains(T.raises(kept.value, kept, "SELECT 1"), "closed connection")
end)

T.case("closing the session rolls back its open transaction", function()
  db:exec "CREATE TABLE IF NOT EXISTS pending (x int)"
  local c = weir.connect(url)
  c:exec "BEGIN"
  c:exec "INSERT INTO pending VALUES (1)"
  c:close()
  T.eq(db:value "SELECT count(*) FROM pending", 0)
end)

T.case("clone opens a second session to the same database; closing it leaves the original", function()
  local c = db:clone()
  T.ok(c:value "SELECT pg_backend_pid()" ~= db:value "SELECT pg_backend_pid()", "a session of its own")
  T.eq(c:value "SELECT current_database()", "t_connections_test")
  T.eq(c:value "SELECT current_user", db:value "SELECT current_user")
  db:exec "CREATE TABLE IF NOT EXISTS cloned (x int)"
  db:exec "BEGIN"
  db:exec "INSERT INTO cloned VALUES (1)"
  T.eq(c:transaction_status(), "idle", "the original's transaction is not the clone's")
  T.eq(c:value "SELECT count(*) FROM cloned", 0)
  db:exec "COMMIT"
  T.eq(c:value "SELECT count(*) FROM cloned", 1)
  c:close()
  T.contains(T.raises(c.value, c, "SELECT 1"), "attempt to use a closed connection")
  T.contains(T.raises(c.clone, c), "attempt to use a closed connection")
  T.eq(db:transaction_status(), "idle")
  T.eq(db:value "SELECT count(*) FROM cloned", 1)
end)

T.case("weir.connection names an unknown connection clearly", function()
  T.contains(T.raises(weir.connection, "nope"), "weir.connection: no connection named 'nope'")
end)

T.case("a bad URL from a script fails in one line without the password", function()
  local err = T.raises(weir.connect, "postgresql://alice:s3cr3t-pw@127.0.0.1:1/x")
  T.contains(err, "cannot connect to postgresql://alice:***@127.0.0.1:1/x")
  T.not_contains(err, "s3cr3t-pw")
  T.not_contains(err, "\n")
end)

T.case("info describes the session without secrets", function()
  local i = db:info()
  T.eq(i.database, "t_connections_test")
  T.eq(i.user, "postgres")
  T.contains(i.server_version, ".")
  T.eq(i.url, url)
end)

T.case("quote_ident and quote_literal", function()
  T.eq(db:quote_ident "plain", '"plain"')
  T.eq(db:quote_ident 'we"ird', '"we""ird"')
  T.eq(db:quote_literal "it's", "'it''s'")
  local name = db:quote_ident "Mixed Case"
  db:exec("CREATE TABLE " .. name .. " (x int)")
  T.eq(db:value("SELECT count(*) FROM pg_class WHERE relname = $1", "Mixed Case"), 1)
end)

T.case("exec runs several statements and returns the last count", function()
  db:exec "CREATE TABLE multi (x int)"
  T.eq(db:exec "INSERT INTO multi VALUES (1); INSERT INTO multi VALUES (2), (3)", 2)
  T.eq(db:exec("UPDATE multi SET x = x + $1", 10), 3)
  T.eq(db:exec "CREATE INDEX ON multi (x)", 0)
end)

T.case("one returns the first row or nil; value returns nil for no row", function()
  T.eq(db:one "SELECT 1 AS a, 'b' AS b", { a = 1, b = "b" })
  T.eq(db:one "SELECT 1 WHERE false", nil)
  T.eq(db:value "SELECT 1 WHERE false", nil)
end)

T.case("query returns rows and their columns in order", function()
  local rows, cols = db:query "SELECT 1 AS z, 'x'::text AS a, now() AS t"
  T.eq(#rows, 1)
  T.eq(cols[1], { name = "z", type = "int4" })
  T.eq(cols[2], { name = "a", type = "text" })
  T.eq(cols[3].type, "timestamptz")
end)

T.done()
