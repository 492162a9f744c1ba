-- db:tx commits on return, rolls back on error, nests with savepoints; db:rows streams
-- through a cursor inside or outside a transaction.
local T = require "testing"

db:exec "CREATE TABLE items (id int PRIMARY KEY, name text)"
local function count() return db:value "SELECT count(*) FROM items" end
local function reset() db:exec "TRUNCATE items" end

T.case("tx commits when the function returns, and passes its results through", function()
  reset()
  local a, b = db:tx(function(tx)
    tx:exec("INSERT INTO items VALUES ($1, $2)", 1, "one")
    T.eq(tx:transaction_status(), "open")
    return "x", 2
  end)
  T.eq({ a, b }, { "x", 2 })
  T.eq(count(), 1)
  T.eq(db:transaction_status(), "idle")
end)

T.case("tx rolls back when the function raises, and re-raises the same error", function()
  reset()
  local marker = { "custom error object" }
  local ok, err = pcall(db.tx, db, function()
    db:exec("INSERT INTO items VALUES (1, 'gone')")
    error(marker)
  end)
  T.eq(ok, false)
  T.ok(err == marker, "the very same error object")
  T.eq(count(), 0)
  T.eq(db:transaction_status(), "idle")
end)

T.case("an SQL error inside tx rolls back everything before it", function()
  reset()
  local err = T.raises(db.tx, db, function()
    db:exec("INSERT INTO items VALUES (1, 'a')")
    db:exec("INSERT INTO items VALUES (1, 'duplicate')")
  end)
  T.eq(err.sqlstate, "23505")
  T.eq(count(), 0)
end)

T.case("nested tx uses a savepoint: the inner rollback keeps the outer work", function()
  reset()
  db:tx(function()
    db:exec("INSERT INTO items VALUES (1, 'outer')")
    local ok = pcall(db.tx, db, function()
      db:exec("INSERT INTO items VALUES (2, 'inner')")
      db:exec("INSERT INTO items VALUES (2, 'inner again')")  -- fails
    end)
    T.eq(ok, false)
    T.eq(count(), 1)
    db:tx(function() db:exec("INSERT INTO items VALUES (3, 'inner ok')") end)
  end)
  T.eq(db:query("SELECT id FROM items ORDER BY id"), { { id = 1 }, { id = 3 } })
end)

T.case("an SQL error caught inside tx does not turn COMMIT into a silent rollback", function()
  reset()
  local err = T.raises(function()
    db:tx(function()
      db:exec("INSERT INTO items VALUES (1, 'a')")
      pcall(db.exec, db, "SELECT * FROM no_such_table")
    end)
  end)
  T.contains(tostring(err), "tx_test.lua:")
  T.contains(tostring(err), "a statement failed inside the transaction")
  T.eq(count(), 0)
  T.eq(db:transaction_status(), "idle")
end)

T.case("tx refuses a non-function", function()
  T.contains(T.raises(db.tx, db, 42), "db:tx: expected a function, got number")
end)

T.case("rows streams every row through a cursor outside a transaction", function()
  reset()
  db:exec("INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 2500) g")
  local n, sum = 0, 0
  for row in db:rows("SELECT id, name FROM items WHERE id > $1 ORDER BY id", 0) do
    n = n + 1
    sum = sum + row.id
    T.eq(math.type(row.id), "integer")
  end
  T.eq(n, 2500)
  T.eq(sum, 2500 * 2501 // 2)
  T.eq(db:transaction_status(), "idle", "the cursor's transaction is over")
end)

T.case("breaking out of rows closes the cursor and its transaction", function()
  for row in db:rows("SELECT id FROM items ORDER BY id") do
    if row.id == 10 then break end
  end
  T.eq(db:transaction_status(), "idle")
  T.eq(db:value("SELECT count(*) FROM pg_cursors WHERE name LIKE 'weir%'"), 0)
end)

T.case("an error in the loop body rolls back what the loop wrote", function()
  reset()
  db:exec("INSERT INTO items VALUES (1, 'a'), (2, 'b')")
  local ok = pcall(function()
    for row in db:rows("SELECT id FROM items ORDER BY id") do
      db:exec("UPDATE items SET name = 'changed' WHERE id = $1", row.id)
      if row.id == 2 then error("stop") end
    end
  end)
  T.eq(ok, false)
  T.eq(db:value("SELECT count(*) FROM items WHERE name = 'changed'"), 0)
  T.eq(db:transaction_status(), "idle")
end)

T.case("rows inside tx uses the open transaction", function()
  reset()
  db:exec("INSERT INTO items VALUES (1, 'a'), (2, 'b')")
  db:tx(function()
    for row in db:rows("SELECT id FROM items") do
      db:exec("UPDATE items SET name = upper(name) WHERE id = $1", row.id)
    end
    T.eq(db:transaction_status(), "open", "rows did not end the caller's transaction")
  end)
  T.eq(db:value("SELECT string_agg(name, ',' ORDER BY id) FROM items"), "A,B")
end)

T.case("a bad query in rows names the script's SQL, not the cursor", function()
  local err = T.raises(function()
    for _ in db:rows("SELECT nope FROM items") do end
  end)
  T.eq(err.sqlstate, "42703")
  T.eq(err.query, "SELECT nope FROM items")
  T.eq(err.position, 8)
  T.eq(db:transaction_status(), "idle")
end)

T.done()
