--- A small checker for the JSON Schema keywords weir's own document schemas use (type, enum,
--- properties, required, additionalProperties = false, items, oneOf), so suites can hold
--- weir's JSON output to the schemas in grammar/. Returns a list of problems ("$.path: what").
local S = {}

local function json_type(v)
  if v == json.null then return "null" end
  local t = type(v)
  if t == "boolean" or t == "string" then return t end
  if math.type(v) == "integer" then return "integer" end
  if t == "number" then return "number" end
  if t == "table" then
    if getmetatable(v) == getmetatable(json.array()) then return "array" end
    if getmetatable(v) == getmetatable(json.object()) then return "object" end
    return next(v) == nil and "array" or (#v > 0 and "array" or "object")
  end
  return t
end

local function type_ok(want, got)
  if want == got then return true end
  return want == "number" and got == "integer"
end

local function check(schema, v, path, out)
  if schema.oneOf then
    local matches = 0
    for _, alt in ipairs(schema.oneOf) do
      local sub = {}
      check(alt, v, path, sub)
      if #sub == 0 then matches = matches + 1 end
    end
    if matches ~= 1 then out[#out + 1] = path .. ": matches " .. matches .. " of oneOf" end
    return
  end
  if schema.enum then
    local found = false
    for _, e in ipairs(schema.enum) do
      if e == v then found = true end
    end
    if not found then out[#out + 1] = path .. ": " .. tostring(v) .. " is not one of the enum" end
    return
  end
  local got = json_type(v)
  if schema.type then
    local wants = type(schema.type) == "table" and schema.type or { schema.type }
    local ok = false
    for _, w in ipairs(wants) do ok = ok or type_ok(w, got) end
    if not ok then
      out[#out + 1] = ("%s: %s, expected %s"):format(path, got, table.concat(wants, "|"))
      return
    end
  end
  if got == "object" then
    for _, key in ipairs(schema.required or {}) do
      if v[key] == nil then out[#out + 1] = path .. ": missing " .. key end
    end
    for key, value in pairs(v) do
      local sub = schema.properties and schema.properties[key]
      if sub then
        check(sub, value, path .. "." .. key, out)
      elseif schema.additionalProperties == false then
        out[#out + 1] = path .. ": unexpected " .. key
      end
    end
  elseif got == "array" and schema.items then
    for i, item in ipairs(v) do check(schema.items, item, path .. "[" .. i .. "]", out) end
  end
end

---Problems of `value` against `schema` (a decoded JSON Schema); empty when it conforms.
function S.check(schema, value)
  local out = {}
  check(schema, value, "$", out)
  return out
end

---Decodes grammar/NAME from the source tree.
function S.load(name)
  local f = assert(io.open(assert(os.getenv "WEIR_SOURCE_DIR") .. "/grammar/" .. name))
  local text = f:read("a")
  f:close()
  return json.decode(text)
end

return S
