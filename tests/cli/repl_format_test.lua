-- `weir repl` (stdin piped) printing results in every \pset format psql has — aligned with
-- border 0, 1 and 2, unaligned, csv, html, each expanded too — with titles, footers, tuples
-- only, NULL display and separators, compared byte for byte with `psql -X -f` given the same
-- input; \a \t \H \f and \pset's own messages; psql's FETCH_COUNT (batches sized on their own);
-- results read through a cursor in the streamed formats; weir's json format.
local T = require "testing"
local shell = require "shell"

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local tmp = shell.tmpdir()
local driver = require("repl_driver").new { weir = weir_bin, url = test_url, tmp = tmp }
local repl, lines, same = driver.repl, driver.lines, driver.same_file_as_psql

-- Cells of every kind a format treats apart: numbers (right-aligned), NULL, several lines, a
-- tab, quotes, the separators, HTML's special characters, leading spaces, an empty string.
local Q = [[SELECT 1 AS id, 'a b' AS "name x", NULL::int AS n, E'two\nlines' AS m, 12.5 AS amt
UNION ALL SELECT 22, 'q"uote|,;', 3, E'  <b> & c\t', -1
UNION ALL SELECT 333, '', NULL, ' ', 0;]]

T.case("every format and border, plain and expanded, prints as psql prints it", function()
  local input = {}
  for _, format in ipairs { "aligned", "unaligned", "csv", "html" } do
    input[#input + 1] = "\\pset format " .. format
    for _, border in ipairs { 0, 1, 2 } do
      input[#input + 1] = "\\pset border " .. border
      input[#input + 1] = Q
      input[#input + 1] = "\\x on"
      input[#input + 1] = Q
      input[#input + 1] = "\\x off"
    end
  end
  same(lines(input), { what = "formats" })
end)

T.case("title, footer, tuples only, null, field and record separators, csv_fieldsep, tableattr: as psql", function()
  local input = {
    "\\pset title 'Some people'", Q, "\\x", Q, "\\x",
    "\\pset null '(null)'", Q,
    "\\pset footer off", Q, "\\pset footer", Q,
    "\\pset tuples_only on", Q, "\\x", Q, "\\x", "\\pset tuples_only off",
    "\\pset format unaligned", "\\pset fieldsep ';'", "\\pset recordsep '#'", Q, "\\x", Q, "\\x",
    "\\pset fieldsep_zero", Q, "\\pset recordsep_zero", Q,
    "\\pset format csv", "\\pset csv_fieldsep ';'", Q, "\\pset csv_fieldsep '.'", Q,
    "\\pset format html", "\\pset tableattr 'class=\"t\"'", Q, "\\x", Q, "\\x",
    "\\pset title", "\\pset tableattr",
    "\\pset format aligned", "\\pset null ''",
    "SELECT;", "SELECT 1 AS a WHERE false;", "\\x", "SELECT 1 AS a WHERE false;", "\\x",
    "CREATE TEMP TABLE fmt_t (a int);", "INSERT INTO fmt_t VALUES (1), (2) RETURNING a;",
    "\\pset format html", "INSERT INTO fmt_t VALUES (3);", "UPDATE fmt_t SET a = a RETURNING *;",
  }
  same(lines(input), { what = "settings" })
end)

T.case("\\pset alone lists psql's settings; \\a \\t \\H \\f and each \\pset change say what psql says", function()
  local input = {
    "\\pset", "\\a", "\\a", "\\t", "\\t", "\\t on", "\\t off", "\\H", "\\H", "\\f ';'", "\\f",
    "\\pset format csv", "\\a", "\\H", "\\a",
    "\\pset format u", "\\pset format csv", "\\pset border 2", "\\pset border", "\\pset null '-'", "\\pset null",
    "\\pset title T", "\\pset title", "\\pset footer off", "\\pset footer", "\\pset expanded", "\\pset x auto",
    "\\pset x off", "\\pset pager off", "\\pset pager always", "\\pset pager", "\\pset recordsep '|'",
    "\\pset recordsep_zero", "\\pset fieldsep_zero", "\\pset csv_fieldsep ';'", "\\pset tableattr x",
    "\\pset tableattr", "\\pset linestyle", "\\pset columns", "\\pset numericlocale", "\\pset",
    "\\pset format aligned", Q, "\\pset numericlocale off", "SELECT 1234567.891 AS n, -1234 AS i, 12 AS s;",
    "\\pset numericlocale on", "SELECT 1234567.891 AS n, -1234 AS i, 12 AS s, '1234'::text AS t, 1e20::float8 AS f;",
  }
  same(lines(input), { what = "messages" })
end)

T.case("\\pset's errors: a format it does not have, a bad boolean, a bad csv_fieldsep, an unknown option", function()
  local rc, out, err = repl(lines {
    "\\pset format xml", "\\pset footer maybe", "\\pset csv_fieldsep ab", "\\pset nosuch", "\\pset x sideways",
    "\\pset linestyle unicode",
  })
  T.eq({ rc, out }, { 1, "" })
  T.eq(err, table.concat({
    "\\pset: allowed formats are aligned, csv, html, json, unaligned",
    'unrecognized value "maybe" for "footer": Boolean expected',
    "\\pset: csv_fieldsep must be a single one-byte character",
    "\\pset: unknown option: nosuch",
    'unrecognized value "sideways" for "expanded"',
    "Available values are: auto, on, off.",
    "\\pset: linestyle is not supported by weir repl (always ascii)",
    "" }, "\n"))
end)

T.case("\\set FETCH_COUNT n: SELECT and VALUES print batch by batch as psql's do, each batch sized on its own", function()
  local input = {
    "\\set FETCH_COUNT 2",
    "SELECT g, repeat('x', g) AS r FROM generate_series(1, 5) g;",
    "SELECT g FROM generate_series(1, 4) g;", -- the last FETCH comes back empty
    "VALUES (1), (22), (333);",
    "WITH t AS (SELECT 1 AS a) SELECT repeat('y', a) FROM t;", -- not SELECT first: read whole
    "TABLE pg_namespace LIMIT 0;",
    "\\x", "SELECT g, repeat('x', g) AS r FROM generate_series(1, 5) g;", "\\x",
    "\\pset format unaligned", "SELECT g FROM generate_series(1, 5) g;",
    "\\pset format aligned",
    -- a batch prints before an error in a later one stops the statement, in psql too
    "SELECT 1 / (3 - g) AS q FROM generate_series(1, 5) g;",
    "BEGIN;", "SELECT g FROM generate_series(1, 3) g;", "COMMIT;",
  }
  same(lines(input), { what = "FETCH_COUNT" })
end)

T.case("unaligned, csv, json and html read a query 1000 rows at a time (bounded memory): rows before a failing row print", function()
  -- psql holds a whole result before printing it; weir streams these formats through a
  -- cursor, so the first thousand rows are out before the 1500th fails
  local rc, out, err = repl(lines {
    "\\pset format unaligned", "\\pset tuples_only on",
    "SELECT g, 1 / (1500 - g) AS q FROM generate_series(1, 2000) g;",
    "SELECT 'after' AS a;",
  })
  T.eq(rc, 1)
  local printed = select(2, out:gsub("\n", ""))
  T.eq(printed, 1001, "the format's message, the first batch, then the next statement")
  -- (the batch's last row waits for the next one to end its line, as in psql)
  T.contains(out, "999|0\n1000|0after\n")
  T.eq(err, "ERROR:  22012 division by zero\n")
  -- and the same statement aligned is read whole: nothing prints before the error
  rc, out = repl(lines { "SELECT g, 1 / (1500 - g) AS q FROM generate_series(1, 2000) g;" })
  T.eq({ rc, out }, { 1, "" })
end)

T.case("json: one object a row, numbers and booleans as JSON's, json and jsonb as they are, NULL as null", function()
  local rc, out, err = repl(lines {
    "\\pset format json",
    [[SELECT 1 AS i, 2.5::numeric AS n, 'NaN'::float8 AS nan, true AS b, 'x"y' AS s, NULL AS z,
      '{"k": [1, 2]}'::jsonb AS j, ARRAY[1, 2] AS arr, E'a\nb' AS nl UNION ALL
      SELECT 2, 3, 1, false, '', 'z', 'null', '{}', '';]],
    "SELECT 1 AS a WHERE false;",
  })
  T.eq({ rc, err }, { 0, "" })
  local first, second = out:match("^(.-\n)(.*)$")
  T.eq(first, "Output format is json.\n")
  local rows_text, empty = second:match("^(.-%]\n)(.*)$")
  local rows = json.decode(rows_text)
  T.eq(#rows, 2)
  T.eq(rows[1].i, 1)
  T.eq(rows[1].n, 2.5)
  T.eq(rows[1].nan, "NaN")
  T.eq(rows[1].b, true)
  T.eq(rows[1].s, 'x"y')
  T.eq(rows[1].z, json.null)
  T.eq(rows[1].j, { k = { 1, 2 } })
  T.eq(rows[1].arr, "{1,2}")
  T.eq(rows[1].nl, "a\nb")
  T.eq(rows[2].b, false)
  T.eq(rows[2].j, json.null)
  T.eq(empty, "[]\n")
end)

T.case("Lua query results print in \\pset's format too, NULL as \\pset null says", function()
  local rc, out, err = repl(lines {
    "\\pset format csv", [[db:query("SELECT 1 AS a, NULL::text AS b")]],
    "\\pset format aligned", "\\pset null 'NULL'", [[db:query("SELECT 1 AS a, NULL::text AS b")]],
  })
  T.eq({ rc, err }, { 0, "" })
  T.eq(out, 'Output format is csv.\na,b\n1,\nOutput format is aligned.\nNull display is "NULL".\n' ..
            " a |  b   \n---+------\n 1 | NULL\n(1 row)\n\n")
end)

shell.cleanup()
T.done()
