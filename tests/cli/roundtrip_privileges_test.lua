-- weir test --roundtrip and the schema copies it makes keep the database's privileges: grants
-- to roles (and revokes from PUBLIC) that migrations made are on the copy, on the same server
-- and on a throwaway cluster, which gets the roles they name from pg_dumpall --roles-only.
-- test: own cluster (it creates and drops roles, which are the whole server's)
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local function fresh(name, owner)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name .. (owner and " OWNER " .. owner or ""))
  return (base_url:gsub("/postgres%?", "/" .. name .. "?"))
end

local function project(name, migration)
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  shell.write(dir .. "/migrations/001_grants.lua", migration)
  return dir
end

-- A function only rp_service may execute, a table "Odd Grantee" may read: what 001 grants.
local GRANTS = [[
return migration "001_grants" {
  phase "grants" {
    up = function(db)
      db:exec [=[
        CREATE TABLE accounts (id int PRIMARY KEY);
        CREATE FUNCTION claim() RETURNS int LANGUAGE sql AS 'SELECT 1';
        REVOKE EXECUTE ON FUNCTION claim() FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION claim() TO rp_service;
        GRANT SELECT ON accounts TO "Odd Grantee";
      ]=]
    end,
    down = function(db) db:exec "DROP FUNCTION claim(); DROP TABLE accounts" end,
  },
}
]]

db:exec [[
  DROP ROLE IF EXISTS rp_service; DROP ROLE IF EXISTS "Odd Grantee"; DROP ROLE IF EXISTS rp_plain;
  DROP ROLE IF EXISTS rp_creator;
  CREATE ROLE rp_service NOLOGIN;
  CREATE ROLE "Odd Grantee" NOLOGIN;
  CREATE ROLE rp_plain LOGIN NOCREATEDB;
  CREATE ROLE rp_creator LOGIN CREATEDB]]

T.case("--roundtrip on a database whose migration granted to roles: up after down rebuilds the grants on the copy", function()
  local url = fresh "rp_same"
  local dir = project("rp_same", GRANTS)
  local rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " up --db " .. q(url))
  T.eq(rc, 0, err)
  rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(url))
  T.eq(rc, 0, err)
  T.contains(err, "roundtrip on a new database weir_test_")
  T.not_contains(err, "FAIL")
  T.contains(err, "ok   001_grants: up, verify, down restores the schema; up rebuilds the schema the database has")
  T.contains(err, "1 passed, 0 failed")
  db:exec "DROP DATABASE rp_same WITH (FORCE)"
end)

T.case("--roundtrip for a role that cannot create databases: the throwaway cluster gets the roles the grants name", function()
  local url = fresh("rp_plain_db", "rp_plain")
  local plain = url:gsub("//postgres@", "//rp_plain@")
  local dir = project("rp_plain", GRANTS)
  local rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " up --db " .. q(plain))
  T.eq(rc, 0, err)
  rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(plain))
  T.eq(rc, 0, err)
  T.contains(err, "roundtrip on a throwaway cluster")
  T.not_contains(err, "FAIL")
  T.contains(err, "ok   001_grants: up, verify, down restores the schema; up rebuilds the schema the database has")
  db:exec "DROP DATABASE rp_plain_db WITH (FORCE)"
end)

T.case("--roundtrip for a role that may create databases but is no superuser: the copy on the same server is its own, grants kept", function()
  local url = fresh("rp_creator_db", "rp_creator")
  local creator = url:gsub("//postgres@", "//rp_creator@")
  local dir = project("rp_creator", GRANTS)
  local rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " up --db " .. q(creator))
  T.eq(rc, 0, err)
  rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(creator))
  T.eq(rc, 0, err)
  T.contains(err, "roundtrip on a new database weir_test_")
  T.not_contains(err, "FAIL")
  T.contains(err, "ok   001_grants: up, verify, down restores the schema; up rebuilds the schema the database has")
  db:exec "DROP DATABASE rp_creator_db WITH (FORCE)"
end)

T.case("weir.cluster{schema_from=} keeps grants and owners and makes the roles, never changing its own", function()
  local url = fresh "rp_source"
  local src <close> = weir.connect(url)
  src:exec [[
    CREATE TABLE owned (id int);
    ALTER TABLE owned OWNER TO rp_plain;
    GRANT SELECT, INSERT ON owned TO "Odd Grantee";
    CREATE FUNCTION claim() RETURNS int LANGUAGE sql AS 'SELECT 1';
    REVOKE EXECUTE ON FUNCTION claim() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION claim() TO rp_service]]
  -- a setting of the source's superuser, which has the throwaway cluster's superuser's name:
  -- pg_dumpall has it, the copy leaves the cluster's own role alone
  db:exec "ALTER ROLE postgres SET work_mem = '7MB'"
  local ok, c = pcall(weir.cluster, { schema_from = url })
  db:exec "ALTER ROLE postgres RESET work_mem"
  T.ok(ok, tostring(c))
  local copy <close> = weir.connect(c:url())
  T.eq(copy:value "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'", "rp_plain")
  T.eq(copy:value [[SELECT has_table_privilege('Odd Grantee', 'public.owned', 'INSERT')]], true)
  T.eq(copy:value [[SELECT has_table_privilege('Odd Grantee', 'public.owned', 'UPDATE')]], false)
  T.eq(copy:value "SELECT has_function_privilege('rp_service', 'public.claim()', 'EXECUTE')", true)
  T.eq(copy:value "SELECT has_function_privilege('rp_plain', 'public.claim()', 'EXECUTE')", false)
  T.eq(copy:value "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", true)
  T.eq(copy:value "SELECT count(*) FROM pg_db_role_setting", 0)
  c:close()
  db:exec "DROP DATABASE rp_source WITH (FORCE)"
end)

T.case("weir.copy_schema into a server that lacks the roles the grants name: an error naming them", function()
  local url = fresh "rp_source2"
  local src <close> = weir.connect(url)
  src:exec [[CREATE TABLE t (id int); GRANT SELECT ON t TO rp_service, "Odd Grantee"]]
  local c <close> = weir.cluster()
  local other <close> = weir.connect(c:url())
  other:exec "CREATE DATABASE copied"
  local err = T.raises(weir.copy_schema, { from = url, to = c:url():gsub("/postgres%?", "/copied?") })
  T.contains(err, "the target's owners and grants name roles the copy's server lacks: Odd Grantee, rp_service")
  T.not_contains(err, "\n")
  T.eq(other:value "SELECT count(*) FROM pg_roles WHERE rolname IN ('rp_service', 'Odd Grantee')", 0)
  db:exec "DROP DATABASE rp_source2 WITH (FORCE)"
end)

for _, name in ipairs { "rp_same", "rp_plain_db", "rp_creator_db", "rp_source", "rp_source2" } do
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
end
db:exec [[DROP ROLE rp_service; DROP ROLE "Odd Grantee"; DROP ROLE rp_plain; DROP ROLE rp_creator]]
shell.cleanup()
T.done()
