-- json.validate against the official JSON Schema test suite (draft-07, the required tests in
-- Debian's json-schema-test-suite package, not optional/), plus a few direct cases for the
-- error format. Every file in the folder runs as one case; every test in it must give the
-- expected answer unless it is listed in SKIPPED with the reason.
local T = require "testing"
local read = T.read

local SUITE = "/usr/share/json-schema-test-suite/tests/draft7"

-- [file] = { [group description] = reason } (a group's tests are all skipped).
local SKIPPED = {
  ["refRemote.json"] = {
    ["remote ref"] = "fetches http://localhost:1234/ (remote references are not supported)",
    ["fragment within remote ref"] = "fetches http://localhost:1234/ (remote references are not supported)",
    ["ref within remote ref"] = "fetches http://localhost:1234/ (remote references are not supported)",
    ["base URI change"] = "fetches http://localhost:1234/ (remote references are not supported)",
    ["base URI change - change folder"] = "fetches http://localhost:1234/ (remote references are not supported)",
    ["base URI change - change folder in subschema"] = "fetches http://localhost:1234/ (remote references are not supported)",
    ["root ref in remote ref"] = "fetches http://localhost:1234/ (remote references are not supported)",
  },
}

local function describe_errors(errors)
  if not errors then return "no errors" end
  local parts = {}
  for _, e in ipairs(errors) do
    parts[#parts + 1] = string.format("%s [%s] %s", e.pointer == "" and "(root)" or e.pointer,
      e.keyword, e.message)
  end
  return table.concat(parts, "; ")
end

local totals = { passed = 0, skipped = 0, files = 0 }
local skipped_list = {}

-- Runs every test of one suite file; returns the failures, one line each.
local function run_file(path, name, skips)
  local groups = json.decode(read(path))
  local failures = {}
  for _, group in ipairs(groups) do
    for _, test in ipairs(group.tests) do
      local label = group.description .. " / " .. test.description
      if skips[group.description] then
        totals.skipped = totals.skipped + 1
        skipped_list[#skipped_list + 1] = name .. ": " .. label .. " — " .. skips[group.description]
      else
        local ok, valid, errors = pcall(json.validate, test.data, group.schema)
        if not ok then
          failures[#failures + 1] = label .. ": raised " .. tostring(valid)
        elseif valid ~= test.valid then
          failures[#failures + 1] = string.format("%s: expected %s, got %s (%s)", label,
            tostring(test.valid), tostring(valid), describe_errors(errors))
        else
          totals.passed = totals.passed + 1
        end
      end
    end
  end
  return failures
end

local names = assert(weir.list_dir(SUITE))
for _, name in ipairs(names) do
  if name:match("%.json$") then
    totals.files = totals.files + 1
    T.case("suite " .. name, function()
      local failures = run_file(SUITE .. "/" .. name, name, SKIPPED[name] or {})
      T.ok(#failures == 0, #failures .. " failing test(s):\n" .. table.concat(failures, "\n"))
    end)
  end
end

-- The optional format tests of the formats weir checks (docs/json.md): hand-written parsers
-- and PCRE2 patterns must agree with the suite.
for _, format in ipairs { "date-time", "date", "time", "email", "ipv4", "ipv6", "hostname", "uri",
  "regex" } do
  T.case("optional suite format/" .. format .. ".json", function()
    local failures = run_file(SUITE .. "/optional/format/" .. format .. ".json", "format/" .. format, {})
    T.ok(#failures == 0, #failures .. " failing test(s):\n" .. table.concat(failures, "\n"))
  end)
end

T.case("the suite folder was found and read", function()
  T.ok(totals.files >= 30, "draft7 files: " .. totals.files)
end)

T.case("json.validate returns true for a valid value", function()
  T.eq(json.validate({ id = 1, tags = { "a" } }, {
    type = "object", required = { "id" },
    properties = { id = { type = "integer" }, tags = { type = "array", items = { type = "string" } } },
  }), true)
end)

T.case("json.validate reports pointer, keyword and message", function()
  local ok, errors = json.validate({ id = "x", tags = { "a", 2 } }, {
    type = "object", required = { "id", "name" },
    properties = { id = { type = "integer" }, tags = { type = "array", items = { type = "string" } } },
  })
  T.eq(ok, false)
  local got = {}
  for _, e in ipairs(errors) do
    T.ok(type(e.message) == "string" and #e.message > 0, "message")
    got[#got + 1] = e.pointer .. " " .. e.keyword
  end
  table.sort(got)
  T.eq(got, { " required", "/id type", "/tags/1 type" })
end)

T.case("json.validate accepts the schema as JSON text", function()
  local schema = '{"type": "string", "format": "uuid"}'
  T.eq(json.validate("123e4567-e89b-12d3-a456-426614174000", schema), true)
  local ok, errors = json.validate("nope", schema)
  T.eq(ok, false)
  T.eq(errors[1].keyword, "format")
  T.eq(errors[1].pointer, "")
end)

T.case("json.validate: $ref through definitions", function()
  local schema = {
    definitions = { positive = { type = "integer", minimum = 1 } },
    type = "array", items = { ["$ref"] = "#/definitions/positive" },
  }
  T.eq(json.validate({ 1, 2 }, schema), true)
  local ok, errors = json.validate({ 1, 0 }, schema)
  T.eq(ok, false)
  T.eq({ errors[1].pointer, errors[1].keyword }, { "/1", "minimum" })
end)

T.case("json.validate raises on an unusable schema", function()
  T.contains(T.raises(json.validate, 1, 42), "json.validate: ")
  T.contains(T.raises(json.validate, 1, "{not json"), "json.validate: ")
  T.contains(T.raises(json.validate, 1, { pattern = "(" }), "json.validate: invalid pattern")
  T.contains(T.raises(json.validate, 1, { ["$ref"] = "#/nowhere" }), "cannot resolve $ref")
end)

print(string.format("JSON Schema draft-07 suite: %d files, %d tests passed, %d skipped",
  totals.files, totals.passed, totals.skipped))
for _, line in ipairs(skipped_list) do print("  skipped " .. line) end

T.done()
