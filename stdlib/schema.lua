--- schema: the `schema` global. The C++ module "schema.core" gives inspect, diff and script
--- (interpreter/pg/inspect.cpp, diff.cpp); this file adds apply and the sources `weir diff`
--- compares (a URL, an .sql file, a migrations directory).
local core = require "schema.core"

---Runs `changes` (from schema.diff) on `conn` in order. Changes marked transaction = false
---(CREATE INDEX CONCURRENTLY …) cannot run inside a transaction block: inside one, apply
---raises before running anything. Returns the number of changes applied.
---@param conn weir.Connection
---@param changes table[]
---@return integer
function core.apply(conn, changes)
  if type(changes) ~= "table" then error("schema.apply: expected the list schema.diff returns", 2) end
  if conn:in_transaction() then
    for _, c in ipairs(changes) do
      if c.transaction == false then
        error(("schema.apply: %s (%s) must run outside a transaction block; apply outside db:tx or in a phase with transaction = false"):format(
          c.kind, c.object), 2)
      end
    end
  end
  for _, c in ipairs(changes) do conn:exec(c.sql) end
  return #changes
end

return core
