-- `weir repl` (stdin piped) printing text that is not plain ASCII exactly as psql 15 does:
-- columns aligned by display width (CJK and emoji two columns, combining marks none) in
-- aligned and expanded (\x) tables, headers and \d titles; tabs expanded to the next multiple
-- of 8 columns and control characters shown as \x01, \r, \u0085; the error caret under
-- `LINE n:` counted as libpq counts it. Typing such text in a terminal is repl_text_pty_test.lua.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local tmp = shell.tmpdir()
local write = shell.write

-- The piped REPL under LANG=C.UTF-8 (unless a call gives the locale: what this suite varies) and
-- psql of the server's major version, its client encoding UTF-8 whatever the locale.
local driver = require("repl_driver").new {
  weir = weir_bin, url = test_url, tmp = tmp,
  env = "env LC_ALL= LC_CTYPE= LANG=C.UTF-8", psql_env = "LANG=C.UTF-8 PGCLIENTENCODING=UTF8",
}
local lines, psql_bin = driver.lines, driver.psql_bin

-- `weir repl --no-history --db URL < INPUT`: exit code, stdout, stderr. env: "VAR=value …".
local function repl(input, env) return driver.repl(input, { env = env and ("env " .. env) }) end

local function psql(args) return driver.psql(test_url, args) end

-- Runs each command in one REPL session and in one psql (-c each), section by section, and
-- fails listing every command whose output differs. Returns the REPL's exit code and stderr.
local function same_as_psql(commands, env)
  return driver.same_as_psql(commands, { env = env and ("env " .. env) })
end

-- Values that are wide, narrow, zero-width or not printable, one a column. psql's E'' and U&''
-- strings, so the SQL itself stays ASCII-safe in the shell.
local VALUES = table.concat({
  "'日本語' AS cjk",
  "'x' AS narrow",
  "'e' || U&'\\0301' || 'x' AS combining",   -- e + COMBINING ACUTE ACCENT: 2 columns
  "U&'\\+01F600' || '!' AS emoji",            -- 😀 is two columns
  "'café crème' AS accents",
  "E'a\\tb\\tc' AS tabs",
  "E'12345678\\tz' AS tab8",                   -- a tab at a multiple of 8 is 8 spaces
  "E'日\\tx' AS cjk_tab",                      -- the tab stops count display columns
  "E'ab\\x01z\\x7f' AS ctl",                   -- \x01 and \x7F
  "E'x\\ry' AS cr",                            -- \r
  "U&'\\0085' || 'n' AS c1",                   -- \u0085
  "E'日\\tx\\nab\\tc\\r\\nz' AS multi",          -- lines, a tab in each, a \r before a newline
}, ", ")
local Q = "SELECT " .. VALUES .. ";"
local HEADERS = [[SELECT 1 AS "名前", 2 AS "e]] .. "\u{301}" .. [[", 3 AS "a	b", 'x' AS "😀";]]

-- =============================================================================================

T.case("aligned: CJK, emoji, combining marks, tabs and control characters line up as in psql", function()
  local rc, err = same_as_psql { Q, HEADERS }
  T.eq(rc, 0, err)
  -- not only equal to psql, but the cases this is about
  local _, out = repl(Q .. "\n")
  T.contains(out, " 日本語 | x ")             -- the header above it is 8 columns wide, not 5
  T.contains(out, "| a       b       c |")
  T.contains(out, "| ab\\x01z\\x7F |")
  T.contains(out, "| x\\ry |")
  T.contains(out, "| \\u0085n |")
  T.contains(out, "| ab      c\\r+\n")
end)

T.case("expanded (\\x): the same values, the record rule and the value column as psql's", function()
  local rc, err = same_as_psql { "\\x", Q, HEADERS, "\\x off" }
  T.eq(rc, 0, err)
  local _, out = repl("\\x\n" .. Q .. "\n")
  T.contains(out, "\ntabs      | a       b       c\n")
  T.contains(out, "\nctl       | ab\\x01z\\x7F\n")
end)

T.case("db:query's rows (Lua values) print the same table as the server's text does", function()
  local _, theirs = psql("-c " .. q(Q))
  local rc, mine, err = repl("db:query(" .. string.format("%q", Q:sub(1, -2)) .. ")\n")
  T.eq(rc, 0, err)
  T.eq(mine, theirs)
end)

T.case("\\d, \\d+ and \\dt of a table named 日本 with columns 名前 and é: psql's title, columns and footers", function()
  db:exec [[CREATE TABLE "日本" ("名前" text PRIMARY KEY, "é" int DEFAULT 1, "x	y" int, "😀" text)]]
  db:exec [[COMMENT ON TABLE "日本" IS 'テーブル']]
  db:exec [[COMMENT ON COLUMN "日本"."名前" IS '名前の列']]
  local rc, err = same_as_psql { '\\d "日本"', "\\d 日本", '\\d+ "日本"', '\\dt "日本"', '\\dt+ "日本"',
                                 '\\d "日本_pkey"', "\\di 日*" }
  T.eq(rc, 0, err)
  db:exec [[DROP TABLE "日本"]]
end)

T.case("the locale does not matter: with LANG=C (and LC_ALL=POSIX) the tables are psql's all the same", function()
  -- the REPL falls back to C.UTF-8 for LC_CTYPE when the environment's codeset is not UTF-8
  for _, env in ipairs { "LC_ALL= LC_CTYPE= LANG=C", "LC_ALL=POSIX" } do
    local rc, err = same_as_psql({ Q, "\\x", Q }, env)
    T.eq(rc, 0, env .. ": " .. err)
  end
end)

T.case("repl_format.width and caret_width measure by the terminal's wcwidth, piped too", function()
  -- e + combining acute, 日, 😀, a tab: display width 1 + 0 + 2 + 2 (no tab in printed text);
  -- libpq's caret counts every character at least 1 (the tab and the mark too)
  local rc, out, err = repl(lines {
    [[fmt = require "repl_format"]],
    [[print(fmt.width("e\u{301}日😀x"), fmt.caret_width("e\u{301}日😀\tx"), fmt.width("plain"))]],
  })
  T.eq(rc, 0, err)
  T.eq(out, "6\t8\t5\n")
end)

-- libpq's LINE/caret lines from psql's stderr and the REPL's (psql leaves out the SQLSTATE and
-- prefixes psql:FILE:LINE, so only these two lines are compared).
local function caret_lines(text)
  local l, c = text:match("\n(LINE %d+: [^\n]*)\n( *%^)\n")
  return (l or "?") .. "\n" .. (c or "?")
end

T.case("the error caret stands under the error when wide, combining and tab characters come before it", function()
  local statements = {
    "SELECT 'e\u{301}日😀' || nope\n  , 1;",          -- the caret's line does not end in ";"
    "SELECT '\t\1x', 'ü' || nope\n  , 1;",           -- a tab shows as a space; \x01 counts 1
    "SELECT '日本',\n  '語' || nope\n  , 1;",        -- on the second line
  }
  for i, stmt in ipairs(statements) do
    local path = write(tmp .. "/caret" .. i .. ".sql", stmt .. "\n")
    local _, _, theirs = sh("LANG=C.UTF-8 PGCLIENTENCODING=UTF8 " .. q(psql_bin) .. " -X -f " .. q(path) .. " " .. q(test_url))
    local rc, _, mine = repl(stmt .. "\n")
    T.eq(rc, 1)
    T.contains(mine, "ERROR:  42703 column \"nope\" does not exist\n")
    T.eq(caret_lines(mine), caret_lines(theirs), ("statement %d"):format(i))
  end
end)

shell.cleanup()
T.done()
