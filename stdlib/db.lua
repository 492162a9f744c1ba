--- db: the Connection type (from the C++ module "db.core") plus conveniences written in Lua.
--- db:tx(fn) runs fn(db) in a transaction: COMMIT when fn returns, ROLLBACK when it raises
--- (the error is re-raised unchanged). Nested calls use savepoints.
local core = require "db.core"

-- Statement hooks, internal to weir: package.loaded["db.hooks"][conn] = fn(conn, sql) is called
-- by every query method of `conn` (query, query_text, one, value, exec, rows, copy_in, copy_out)
-- before the statement is sent; raising stops it. A connection without a hook of its own (nil)
-- gets the `others` hook when there is one; false opts it out. The migration runner uses it to
-- watch what a phase runs (stdlib/runner.lua). Weak keys: a closed, collected connection drops
-- its hook.
package.loaded["db.hooks"] = setmetatable({}, { __mode = "k" })

local depth = setmetatable({}, { __mode = "k" })  -- connection -> open db:tx levels

---Runs `fn(db)` inside a transaction (or a savepoint when one is already open).
---@param fn fun(db: weir.Connection): ...
---@return ... the values fn returned
function core.tx(self, fn)
  if type(fn) ~= "function" then
    error("db:tx: expected a function, got " .. type(fn), 2)
  end
  local level = (depth[self] or 0) + 1
  local savepoint
  if self:in_transaction() then
    savepoint = "weir_tx_" .. level
    self:exec("SAVEPOINT " .. savepoint)
  else
    self:exec("BEGIN")
  end
  depth[self] = level
  local results = table.pack(pcall(fn, self))
  local ok = table.remove(results, 1)
  depth[self] = level - 1

  local swallowed = ok and self:transaction_status() == "failed"
  if swallowed then
    -- fn caught an SQL error itself: COMMIT would silently turn into ROLLBACK. Say so instead.
    ok = false
  end
  if ok then
    if savepoint then
      self:exec("RELEASE SAVEPOINT " .. savepoint)
    else
      self:exec("COMMIT")
    end
    return table.unpack(results, 1, results.n - 1)
  end
  if self:transaction_status() ~= "closed" then
    if savepoint then
      pcall(self.exec, self, "ROLLBACK TO SAVEPOINT " .. savepoint)
      pcall(self.exec, self, "RELEASE SAVEPOINT " .. savepoint)
    else
      pcall(self.exec, self, "ROLLBACK")
    end
  end
  if swallowed then
    error("db:tx: a statement failed inside the transaction and the error was caught; rolled back", 2)
  end
  error(results[1], 0)
end

return core
