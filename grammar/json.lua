---@meta
-- LuaLS definitions of the `json` global (nlohmann/json underneath).

---@class json
json = {}

---JSON null: the same value as db.NULL.
---@type weir.NULL
json.null = nil

---Encodes a Lua value as JSON text. Tables that are non-empty sequences become arrays, other
---tables objects; decoded tables keep what they were. Raises on functions, NaN, cycles,
---invalid UTF-8 and tables nested deeper than 1000 levels.
---@param value any
---@return string
function json.encode(value) end

---Decodes JSON text; null becomes json.null (db.NULL). Raises "json.decode: invalid JSON at
---byte N: …" on bad input, "json.decode: JSON nested deeper than 1000 levels (at byte N)" on
---a document nested deeper than that.
---@param text string
---@return any
function json.decode(text) end

---Marks `t` (a new table when nil) to encode as a JSON array, even when empty; returns it.
---Decoded arrays carry the same mark.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

---Marks `t` (a new table when nil) to encode as a JSON object, even when empty; returns it.
---@generic T: table
---@param t? T
---@return T
function json.object(t) end

---@class json.SchemaError
---@field pointer string JSON pointer of the failing value ("" for the root)
---@field keyword string the schema keyword that failed ("type", "required", "$ref" …)
---@field message string

---Validates `value` against a JSON Schema (draft-07): all keywords, `$ref` to local JSON
---pointers and `$id`s within the schema (and the draft-07 meta-schema), `format` for
---date-time, date, time, email, uuid, ipv4, ipv6, hostname and uri. `schema` is a table, a
---boolean or JSON text. Returns true, or false and every error found. Raises
---"json.validate: …" when the schema is unusable (not an object or boolean, a bad pattern,
---a $ref that resolves nowhere).
---@param value any
---@param schema table|boolean|string
---@return boolean ok
---@return json.SchemaError[]? errors
function json.validate(value, schema) end
