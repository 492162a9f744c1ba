-- Helpers for this example's tests (loaded with dofile; not a test file itself). Each takes the
-- test's connection explicitly: a file loaded by dofile sees weir's globals, not the test's `db` or
-- `project`.
local H = {}

-- The fixture's ids (md5-derived, as fixture.lua makes them).
function H.user(db, n) return db:value("SELECT md5('user-' || $1::int)::uuid::text", n) end
function H.mp(db, n) return db:value("SELECT md5('mp-' || $1::int)::uuid::text", n) end
function H.org(db, n) return db:value("SELECT md5('org-' || $1::int)::uuid::text", n) end

-- What a migration file returns besides its migration (the helpers it exports for tests).
function H.exports(file)
  local _, exported = dofile("migrations/" .. file .. ".lua")
  return exported
end

-- fn() inside a transaction that is always rolled back.
function H.rolled_back(db, fn)
  db:exec "BEGIN"
  local ok, err = pcall(fn)
  db:exec "ROLLBACK"
  if not ok then error(err, 0) end
end

-- fn() as `role` (SET LOCAL ROLE) with the given settings (app.current_user_id,
-- request.jwt.claims …), inside a transaction that is rolled back afterwards. Returns fn's result.
function H.as(db, role, settings, fn)
  local out
  H.rolled_back(db, function()
    db:exec("SET LOCAL ROLE " .. db:quote_ident(role))
    for k, v in pairs(settings or {}) do db:exec("SELECT set_config($1, $2, true)", k, v) end
    out = fn()
  end)
  return out
end

-- Inside a transaction: runs sql in a savepoint and expects it to fail with `sqlstate`, then goes
-- on. Returns the error.
function H.rejects(db, sqlstate, sql, ...)
  db:exec "SAVEPOINT expect_error"
  local ok, err = pcall(db.exec, db, sql, ...)
  db:exec "ROLLBACK TO SAVEPOINT expect_error"
  if ok then error(("expected %s, but it succeeded: %s"):format(sqlstate, sql), 2) end
  if type(err) ~= "table" or err.sqlstate ~= sqlstate then
    error(("expected %s, got %s: %s"):format(sqlstate, type(err) == "table" and err.sqlstate or "?", tostring(err)), 2)
  end
  return err
end

return H
