-- `weir repl` (stdin piped): the meta-commands beyond \d — \l \dx \dp \z \dD \do \dE \dy, the S
-- modifier, \sf — compared byte for byte with psql on a database of their objects; variables
-- (\set, \unset, \echo, :var in SQL, \gset), \o, \watch, \!, \c alone, \h; \i and \ir of SQL and
-- Lua files; misspelled SQL sent to the server; --no-db; help from grammar/.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")
local tmp = shell.tmpdir()
local write = shell.write

local META_DB = "t_repl_meta_db"   -- cluster-wide names: this suite's own
local META_ROLE = "t_repl_meta_role"
local SERVER = "t_repl_meta_files"

local function url_of(dbname) return (base_url:gsub("/postgres%?", "/" .. dbname .. "?")) end

local driver = require("repl_driver").new { weir = weir_bin, url = test_url, tmp = tmp }
local repl, lines, same_as_psql, same_file = driver.repl, driver.lines, driver.same_as_psql, driver.same_file_as_psql

local function cleanup()
  pcall(db.exec, db, "DROP DATABASE IF EXISTS " .. META_DB .. " WITH (FORCE)")
  pcall(db.exec, db, "DROP ROLE IF EXISTS " .. META_ROLE)
end
cleanup()

-- A database with an object of each kind the commands list.
local meta_url
local function meta_db()
  if meta_url then return meta_url end
  db:exec("CREATE DATABASE " .. META_DB)
  db:exec("COMMENT ON DATABASE " .. META_DB .. " IS 'the meta-command cases'")
  db:exec("CREATE ROLE " .. META_ROLE)
  meta_url = url_of(META_DB)
  local conn = weir.connect(meta_url)
  for _, sql in ipairs {
    "CREATE SCHEMA s1",
    "CREATE DOMAIN s1.posint AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0)",
    [[CREATE DOMAIN public.email AS text COLLATE "C" CHECK (VALUE LIKE '%@%')]],
    "COMMENT ON DOMAIN public.email IS 'an email'",
    "GRANT USAGE ON DOMAIN public.email TO " .. META_ROLE,
    "CREATE FUNCTION public.addtext(text, int) RETURNS text LANGUAGE sql AS 'SELECT $1 || $2'",
    "CREATE OPERATOR public.<+> (leftarg = text, rightarg = int, function = public.addtext)",
    "CREATE OPERATOR public.!! (rightarg = int, function = int4abs)",
    "COMMENT ON OPERATOR public.!!(NONE, int) IS 'absolute'",
    "CREATE TABLE public.pt (a int, b text)",
    "GRANT SELECT (a) ON public.pt TO " .. META_ROLE,
    "GRANT INSERT ON public.pt TO " .. META_ROLE,
    "ALTER TABLE public.pt ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY p1 ON public.pt USING (a > 0)",
    "CREATE POLICY p2 ON public.pt AS RESTRICTIVE FOR UPDATE TO " .. META_ROLE .. " USING (a > 1) WITH CHECK (a < 10)",
    "CREATE SEQUENCE public.sq",
    "CREATE VIEW public.v1 AS SELECT 1 AS x",
    "CREATE TABLE s1.hidden (id int)",
    "CREATE FUNCTION public.evt() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$",
    "CREATE EVENT TRIGGER t_repl_meta_evt1 ON ddl_command_start WHEN TAG IN ('CREATE TABLE', 'DROP TABLE') EXECUTE FUNCTION public.evt()",
    "CREATE EVENT TRIGGER t_repl_meta_evt2 ON sql_drop EXECUTE FUNCTION public.evt()",
    "ALTER EVENT TRIGGER t_repl_meta_evt2 DISABLE",
    "COMMENT ON EVENT TRIGGER t_repl_meta_evt1 IS 'watch ddl'",
    "CREATE FUNCTION public.twice(a int) RETURNS int LANGUAGE sql IMMUTABLE BEGIN ATOMIC SELECT a * 2; END",
    "CREATE PROCEDURE public.tidy(n int) LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM n;\nEND\n$$",
    "CREATE FUNCTION public.over(int) RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION public.over(text) RETURNS int LANGUAGE sql AS 'SELECT 2'",
    "CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy')",
  } do conn:exec(sql) end
  if conn:value("SELECT count(*) FROM pg_catalog.pg_available_extensions WHERE name = 'file_fdw'") > 0 then
    conn:exec "CREATE EXTENSION file_fdw"
    conn:exec("CREATE SERVER " .. SERVER .. " FOREIGN DATA WRAPPER file_fdw")
    conn:exec("CREATE FOREIGN TABLE public.ft (a int) SERVER " .. SERVER .. " OPTIONS (filename '/dev/null')")
    conn:exec "COMMENT ON FOREIGN TABLE public.ft IS 'nothing in it'"
  end
  conn:close()
  return meta_url
end

-- =============================================================================================
-- Lists and definitions, against psql

T.case("\\l \\dx \\dp \\z \\dD \\do \\dE \\dy (and their + forms) print what psql prints", function()
  local url = meta_db()
  local rc, err = same_as_psql({
    "\\l " .. META_DB, "\\l+ " .. META_DB, "\\l t_repl_meta_*", "\\l nosuch_db",
    "\\dx", "\\dx+", "\\dx plpgsql", "\\dx+ plpgsql", "\\dx nosuch",
    "\\dp", "\\z pt", "\\dp s1.*", "\\dp nosuch",
    "\\dD", "\\dD+", "\\dD s1.*", "\\dD+ email",
    "\\do", "\\do+", "\\do <+>", "\\do !!",
    "\\dE", "\\dE+", "\\dE f*",
    "\\dy", "\\dy+", "\\dy t_repl_meta_evt1",
  }, { url = url, what = "lists" })
  T.eq(rc, 0, err)
end)

T.case("the S modifier lists system objects too, as psql's (\\dS \\dtS \\dnS \\dTS \\dfS \\duS \\dDS \\doS \\dES)", function()
  local rc, err = same_as_psql({
    "\\dS pg_am*", "\\dtS", "\\dtS pg_class", "\\dvS pg_stat_a*", "\\diS pg_class*", "\\dsS", "\\dmS",
    "\\dnS", "\\dTS int*", "\\dT int[]", "\\dT int", "\\dT TIMESTAMPTZ[]", "\\dfS int4*", "\\duS pg_read*", "\\dDS", "\\doS +", "\\dES",
    "\\dtS+ pg_am", "\\dt+S pg_am",
  }, { url = meta_db(), what = "system objects" })
  T.eq(rc, 0, err)
end)

T.case("\\sf and \\sf+ print a function's definition as psql, numbered from its body", function()
  local rc, err = same_as_psql({
    "\\sf public.twice", "\\sf+ public.twice", "\\sf tidy", "\\sf+ tidy", "\\sf addtext(text,int)",
    "\\sf+ over(text)",
  }, { url = meta_db(), what = "\\sf" })
  T.eq(rc, 0, err)
  -- a name that is not there or not one function: the server's message alone, as psql
  local out
  rc, out, err = repl(lines { "\\sf nosuch", "\\sf over", "\\sf" }, { url = meta_db() })
  T.eq({ rc, out }, { 1, "" })
  T.eq(err, 'ERROR:  42883 function "nosuch" does not exist\n' ..
            'ERROR:  42725 more than one function named "over"\n' .. "\\sf: function name is required\n")
end)

T.case("\\ef puts a function's definition in the editor; what comes back waits for ';' and replaces it", function()
  local url = meta_db()
  local conn = weir.connect(url)
  conn:exec "CREATE FUNCTION public.efme(a int) RETURNS int LANGUAGE sql IMMUTABLE BEGIN ATOMIC SELECT a * 2; END"
  conn:close()
  local editor = write(tmp .. "/ef_editor.sh", "sed -i 's/(a \\* 2)/(a * 3)/' \"$1\"\n")
  local rc, out, err = repl(lines { "\\ef public.efme", ";", "select public.efme(2) as r;" },
                            { url = url, env = "VISUAL= EDITOR=" .. q("sh " .. editor) })
  T.eq({ rc, err }, { 0, "" })
  T.eq(out, "CREATE FUNCTION\n r \n---\n 6\n(1 row)\n\n")
  -- a BEGIN ATOMIC body typed (or edited) in is one statement, its inner `;` included, as psql reads it
  rc, out, err = repl(lines {
    "create or replace function public.efme(a int) returns int language sql immutable", "begin atomic",
    "  select a * 4;", "end;", "select public.efme(2) as r;",
  }, { url = url })
  T.eq({ rc, out, err }, { 0, "CREATE FUNCTION\n r \n---\n 8\n(1 row)\n\n", "" })
end)

T.case("\\dx+ of an extension that is not there says so on stderr and fails; \\dx of none lists nothing", function()
  local rc, out, err = repl(lines { "\\dx+ nosuch" }, { url = meta_db() })
  T.eq({ rc, out, err }, { 1, "", 'Did not find any extension named "nosuch".\n' })
end)

-- =============================================================================================
-- Variables

T.case("\\set, \\unset, \\echo and :name, :'name', :\"name\" in SQL and meta-commands, as psql", function()
  same_file(lines {
    "\\set x 'it''s'", "\\set y a b   c", "\\set z", "\\set n 42", "\\set tbl pg_am",
    [[\echo "dq" 'sq\tx' :x :'x' :"x" :nope :'nope' a'b'c]],
    "\\echo :y: :z. x:y",
    "\\echo -n no newline", "\\echo",
    [[select :'x' as v, :"y" as w;]],
    "select :n + 1 as n1, 1::int as cast_kept, ':n' as in_string, $$ :n $$ as dollar; -- :n in a comment",
    "select count(*) > 0 as has from :tbl;",
    "\\dt :tbl", "\\dtS :tbl",
    "\\unset y", "\\echo :y",
    "\\qecho to the output",
  }, { what = "variables" })
end)

T.case("\\gset stores a row's columns in variables (NULL unsets); no row or several is psql's error", function()
  local rc, out, err = same_file(lines {
    "select 5 as five, 'f' as eff \\gset", "\\echo :five :eff",
    "select 1 as a, 2 as b \\gset pre_", "\\echo :pre_a :pre_b",
    "select 1 where false \\gset", "select generate_series(1,2) as g \\gset",
    "\\set nn 1", "select null::int as nn \\gset", "\\echo :nn",
    "select 7 as seven", "\\gset", "\\echo :seven",
  }, { what = "\\gset" })
  T.eq(rc, 1)
  T.eq(out, "5 f\n1 2\n:nn\n7\n")
  T.eq(err, "no rows returned for \\gset\nmore than one row returned for \\gset\n")
end)

T.case("\\set: a bad name and a FETCH_COUNT that is no number are refused; \\set alone lists the variables", function()
  local rc, out, err = repl(lines { "\\set a-b 1", "\\set FETCH_COUNT many", "\\set mine 'v'", "\\set" })
  T.eq(rc, 1)
  T.eq(err, '\\set: invalid variable name: "a-b"\n' .. 'invalid value "many" for "FETCH_COUNT": integer expected\n')
  T.contains(out, "DBNAME = '" .. db:info().database .. "'\n")
  T.contains(out, "mine = 'v'\n")
end)

-- =============================================================================================
-- Output, watching, the shell

T.case("\\o FILE sends results there (messages and \\echo stay on stdout), \\o alone brings them back", function()
  local file = tmp .. "/results.txt"
  same_file(lines {
    "\\o " .. file, "select 'to file' as w;", "\\qecho to file too", "\\echo to stdout", "\\dt nosuch*",
    "create temp table o_t (a int);", "\\o", "select 'back' as w;",
  }, { what = "\\o" })
  T.eq(T.read(file), "    w    \n---------\n to file\n(1 row)\n\nto file too\nCREATE TABLE\n")
end)

T.case("\\o |COMMAND and \\! COMMAND run shell commands only with --unsafe; refused in one line without", function()
  local rc, out, err = repl(lines { "\\o |cat", "\\! echo hi", "select 1 as one;" })
  T.eq(rc, 1)
  T.eq(out, " one \n-----\n   1\n(1 row)\n\n")
  T.eq(err, "\\o |cat: writing to a command runs a shell: start weir repl with --unsafe to allow it\n" ..
            "\\!: running shell commands needs weir repl --unsafe\n")
  local input = write(tmp .. "/unsafe.txt", lines {
    "\\! echo from the shell", "\\o |tr a-z A-Z", "select 'piped' as p;", "\\o", "select 'plain' as p;",
    "\\! exit 3",
  })
  local code, uout, uerr = sh(q(weir_bin) .. " repl --no-history --unsafe --db " .. q(test_url) .. " < " .. q(input))
  T.eq(code, 1)
  T.eq(uout, "from the shell\n   P   \n-------\n PIPED\n(1 ROW)\n\n   p   \n-------\n plain\n(1 row)\n\n")
  T.eq(uerr, "\\!: exited with status 3\n")
end)

T.case("\\watch runs the query again every SEC seconds under a title with the time, until an error stops it (as psql)", function()
  db:exec "DROP SEQUENCE IF EXISTS t_repl_meta_watch; CREATE SEQUENCE t_repl_meta_watch"
  local input = lines { "select 1 / (3 - nextval('t_repl_meta_watch')) as x", "\\watch 0.1" }
  local rc, mine, err = repl(input)
  db:exec "DROP SEQUENCE t_repl_meta_watch; CREATE SEQUENCE t_repl_meta_watch"
  local _, theirs, perr = driver.psql(test_url, "-f " .. q(write(tmp .. "/watch.sql", input)))
  db:exec "DROP SEQUENCE t_repl_meta_watch"
  T.eq(rc, 1)
  local function untimed(s) return (s:gsub("[^\n]*%(every 0%.1s%)\n", "TIME (every 0.1s)\n")) end
  T.eq(untimed(mine), untimed(theirs))
  T.eq(select(2, mine:gsub("%(every 0%.1s%)", "")), 2, "two runs: " .. mine)
  T.eq(driver.plain_errors(err), driver.plain_errors(perr))
  rc, mine, err = repl(lines { "\\watch" })
  T.eq({ rc, mine, err }, { 1, "", "\\watch cannot be used with an empty query\n" })
end)

T.case("\\c alone connects `db` again to the same database (a new session)", function()
  local rc, out, err = repl(lines {
    "first = db:value('select pg_backend_pid()')", "\\c", "db:value('select pg_backend_pid()') ~= first",
    "db:info().database",
  })
  T.eq({ rc, err }, { 0, "" })
  T.eq(out, 'You are now connected to database "' .. db:info().database .. '" as user "' .. db:info().user ..
            '".\ntrue\n' .. db:info().database .. "\n")
end)

-- =============================================================================================
-- Files, misspellings, no database

T.case("\\i and \\ir run .sql files as psql does (statements, meta-commands, a last one without ';') and .lua as Lua", function()
  local dir = tmp .. "/files"
  assert(os.execute("mkdir -p " .. q(dir .. "/sub")))
  write(dir .. "/a.sql", lines { "select 'from a' as a;", "\\echo a echo", "\\ir sub/b.sql", "select 2 as last" })
  write(dir .. "/sub/b.sql", lines { "-- b, relative to a", "select 'from b' as b;", "\\set fromb yes" })
  local rc, out, err = same_file(lines { "\\i " .. dir .. "/a.sql", "\\echo :fromb" }, { what = "\\i .sql" })
  T.eq({ rc, err }, { 0, "" })
  T.contains(out, "a echo\n")
  -- Lua by extension, and by content when the name says nothing
  write(dir .. "/c.lua", "return 6 * 7\n")
  write(dir .. "/d", "-- a comment\nselect 3 as noext\n")
  write(dir .. "/e", "local x = 5\nreturn x + 1\n")
  rc, out, err = repl(lines { "\\i " .. dir .. "/c.lua", "\\i " .. dir .. "/d", "\\i " .. dir .. "/e" })
  T.eq({ rc, err }, { 0, "" })
  T.eq(out, "42\n noext \n-------\n     3\n(1 row)\n\n6\n")
  -- an error inside goes on to the next statement, and the session sees the failure
  write(dir .. "/f.sql", lines { "select 1/0;", "select 'still' as s;" })
  rc, out, err = repl(lines { "\\i " .. dir .. "/f.sql" })
  T.eq({ rc, out, err }, { 1, "   s   \n-------\n still\n(1 row)\n\n", "ERROR:  22012 division by zero\n" })
end)

T.case("misspelled SQL (selct, updte, insrt) goes to the server: PostgreSQL's syntax error with its caret, as psql", function()
  local rc = same_file(lines { "selct 1;", "updte t set a = 1;", "insrt into t values (1)", ";", "select 'after' as a;" },
                       { what = "misspelled" })
  T.eq(rc, 1)
  -- and Lua that is merely unfinished still waits for its end
  local out, err
  rc, out, err = repl(lines { "updat = function()", "  return 1", "end", "updat()" })
  T.eq({ rc, out, err }, { 0, "1\n", "" })
end)

T.case("--no-db: Lua and the toolkit without a connection; SQL and db refused in one line; \\c URL connects later", function()
  local input = write(tmp .. "/nodb.txt", lines {
    "1 + 1", "json.encode({ a = 1 })", "select 1;", "db:query('select 1')", "\\conninfo", "\\c",
    "\\c " .. test_url, "select 2 as two;",
  })
  local rc, out, err = sh("env -u DATABASE_URL PGHOST=/nonexistent " .. q(weir_bin) ..
                          " repl --no-history --no-db < " .. q(input))
  T.eq(rc, 1)
  T.eq(out, '2\n{"a":1}\nYou are currently not connected to a database.\n' ..
            'You are now connected to database "' .. db:info().database .. '" as user "' .. db:info().user ..
            '".\n two \n-----\n   2\n(1 row)\n\n')
  T.contains(err, "no database to run SQL on: this session started with --no-db (\\c URL connects one)\n")
  T.contains(err, "stdin:1: no database: this session started with --no-db (\\c URL connects one)\n")
  T.contains(err, "\\c: not connected: give a URL or a database name\n")
  rc, out, err = sh("echo 'print(1)' | env -u DATABASE_URL PGHOST=/nonexistent " .. q(weir_bin) ..
                    " repl --no-history --no-db")
  T.eq({ rc, out, err }, { 0, "1\n", "" })
  rc, out, err = sh("echo 1 | " .. q(weir_bin) .. " repl --no-db --db " .. q(test_url))
  T.eq({ rc, out }, { 2, "" })
  T.contains(err, "--no-db and --db cannot be used together")
end)

-- =============================================================================================
-- Help

T.case("help(fn), help(\"db:query\"), help(module) and \\help NAME read grammar/ built into weir", function()
  local rc, out, err = sh("cd / && printf '%s\\n' " .. q("help(ddl.add_column)") .. " " .. q("\\help db:query") .. " " ..
                          q("help(ddl)") .. " " .. q("help('nosuch.thing')") .. " | " .. q(weir_bin) ..
                          " repl --no-history --no-db")
  T.eq(rc, 1)
  T.contains(out, "ddl.add_column(db, table, column, type, opts) -> boolean\n  Adds a column: `ALTER TABLE t ADD COLUMN")
  T.contains(out, "  table: string \"name\" or \"schema.name\"\n")
  T.contains(out, "  returns: boolean changed\n")
  T.contains(out, "db:query(sql, ...) -> ")
  T.contains(out, "ddl: help(ddl.NAME) for one of these\n")
  T.contains(out, "  ddl.add_column()")
  T.contains(err, "help: no help on nosuch.thing")
  -- `help` alone: the overview, pointing at nothing a user without the source tree lacks
  rc, out = sh("echo help | " .. q(weir_bin) .. " repl --no-history --no-db")
  T.eq(rc, 0)
  T.contains(out, "help(ddl.add_column)")
  T.not_contains(out, "docs/")
end)

T.case("\\h COMMAND is psql's \\h; without a database from the manual pages; with neither a clear message", function()
  local rc, err = same_as_psql({ "\\h SELECT", "\\h alter table", "\\h", "\\h nosuch" }, { what = "\\h" })
  T.eq(rc, 0, err)
  -- --no-db: PostgreSQL's manual pages, psql's layout without its URL line
  local man_present = os.execute("ls /usr/share/postgresql/*/man/man7/SELECT.7.gz >/dev/null 2>&1")
  if man_present then
    local _, theirs = driver.psql(test_url, "-c '\\h create index'")
    local out
    rc, out = sh("echo '\\h create index' | " .. q(weir_bin) .. " repl --no-history --no-db")
    T.eq(rc, 0)
    T.eq(out, (theirs:gsub("\nURL: [^\n]*\n", "")))
  end
  local empty = tmp .. "/no_man"
  assert(os.execute("mkdir -p " .. q(empty)))
  local out
  rc, out, err = sh("echo '\\h select' | MANPATH=" .. q(empty) .. " " .. q(weir_bin) .. " repl --no-history --no-db")
  T.eq({ rc, out }, { 1, "" })
  T.eq(err, "\\h: no SQL help on this machine: neither psql (postgresql-client) nor PostgreSQL's manual pages " ..
            "of SQL commands are installed\n")
end)

cleanup()
shell.cleanup()
T.done()
