---@meta sql
-- LuaLS definitions of the `sql` module: `local sql = require "sql"` (checked against the
-- binary by tests/lua/api_surface_test.lua).

---@class sql
local sql = {}

---One statement of a parsed SQL text.
---@class sql.Statement
---@field text string the statement as written, without its trailing semicolon
---@field kind string PostgreSQL's parse node: "CreateStmt", "IndexStmt", "AlterTableStmt", …
---@field tree table the node's fields as libpg_query gives them (e.g. tree.concurrent of an IndexStmt)

---Splits `text` into statements with PostgreSQL's own parser (libpg_query, PostgreSQL 15
---grammar). Raises "sql.parse: MESSAGE at character N" when PostgreSQL cannot parse it.
---@param text string
---@return sql.Statement[]
function sql.parse(text) end

return sql
