--- weir_util: small helpers the stdlib modules share (required by them; not a global; named so
--- that it does not shadow a `util.lua` next to a user's script).
local U = {}

---The whole file at `path`; raises its io error as one line.
function U.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then error(err, 0) end
  local text = f:read("a")
  f:close()
  return text
end

---The lines of `text` (without their "\n" or "\r\n"); "" gives one empty line.
function U.lines(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do out[#out + 1] = line end
  return out
end

-- A table name as weir takes it: `name` or `schema.name`, each part letters, digits, _ or $
-- (or any non-ASCII byte), taken exactly as written -- quoted in SQL, so never folded to lower case.
local NAME_PART = "[%w_$\128-\255]+"

---"schema.table" or "table", quoted for `conn`.
function U.qualified(conn, name)
  local s, t = name:match("^([^.]+)%.(.+)$")
  if s then return conn:quote_ident(s) .. "." .. conn:quote_ident(t) end
  return conn:quote_ident(name)
end

---A table name weir accepts (`name` or `schema.name`, see above) quoted for `conn`; else nil
---and 'X is not a valid table name (expected name or schema.name)', X shown so that an empty
---or blank name is visible ("" rather than nothing).
function U.table_sql(conn, name)
  if type(name) == "string" and (name:match("^" .. NAME_PART .. "$") or
                                 name:match("^" .. NAME_PART .. "%." .. NAME_PART .. "$")) then
    return U.qualified(conn, name)
  end
  return nil, (type(name) == "string" and require("json").encode(name) or tostring(name)) ..
    " is not a valid table name (expected name or schema.name)"
end

---Whether the relation `sql_name` (quoted, as table_sql gives it) exists.
function U.relation_exists(conn, sql_name)
  return conn:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", sql_name)
end

---Whether `v` is a weir connection, told by its methods rather than its metatable (which a
---script may not be able to read).
function U.is_connection(v)
  if type(v) ~= "userdata" then return false end
  local ok, same = pcall(function() return v.exec ~= nil and rawequal(v.exec, db.exec) end)
  return ok and same
end

---Names quoted for `conn`, comma-separated.
function U.list_of(conn, names)
  local out = {}
  for i, n in ipairs(names) do out[i] = conn:quote_ident(n) end
  return table.concat(out, ", ")
end

---An error as one line: SQLSTATE and message for SQL errors; other errors without the
---position of weir's own stdlib file (the message is what the user needs).
function U.error_line(err)
  if type(err) == "table" and err.sqlstate then return err.sqlstate .. " " .. err.message end
  return (tostring(err):gsub("^[^:]*stdlib/[%w_]+%.lua:%d+: ", ""))
end

return U
