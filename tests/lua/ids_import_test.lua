-- ids with another tool's mapping: ids.import (from a table, a query, another database), the
-- refusals that import nothing, imported UUIDs from ids.map/ids.lookup/ids.imported/ids.resolve,
-- one id_map query per copy batch with copy.table's `ids` option (none for namespaces without
-- imports), and ids.forget. (In a migration phase: tests/cli/copy_migrate_test.lua.)
local T = require "testing"

local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local function database(name)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  return weir.connect((base_url:gsub("/postgres%?", "/" .. name .. "?"))), name
end

-- Statements `conn` sends, through the runner's statement hook (weir's own tests only).
local function counting(conn)
  local seen = {}
  package.loaded["db.hooks"][conn] = function(_, sql) seen[#seen + 1] = sql end
  return seen, function() package.loaded["db.hooks"][conn] = nil end
end
local function matching(list, needle)
  local n = 0
  for _, s in ipairs(list) do
    if s:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

-- The earlier tool's mapping: offices 1..50 and patients 1..200 with random UUIDs.
local function earlier_mapping(conn)
  conn:exec [[
    DROP TABLE IF EXISTS migration_mappings;
    CREATE TABLE migration_mappings (entity_type text NOT NULL, legacy_id bigint NOT NULL, new_id uuid NOT NULL,
                                     migrated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (entity_type, legacy_id));
    INSERT INTO migration_mappings (entity_type, legacy_id, new_id)
    SELECT 'office', g, gen_random_uuid() FROM generate_series(1, 50) g
    UNION ALL SELECT 'patient', g, gen_random_uuid() FROM generate_series(1, 200) g;
  ]]
end

local function mapped(conn, entity, legacy)
  return conn:value("SELECT new_id::text FROM migration_mappings WHERE entity_type = $1 AND legacy_id = $2", entity, legacy)
end

T.case("ids.import brings a mapping table in; lookups give its UUIDs, and derived ones for the rest", function()
  local conn <close> = database("ids_import_table")
  earlier_mapping(conn)
  local st = ids.import(conn, "office", { table = "migration_mappings", legacy = "legacy_id", new = "new_id",
    where = "entity_type = 'office'" })
  T.eq(st, { rows = 50, imported = 50, already = 0 })
  T.eq(conn:value "SELECT count(*) FROM weir.id_map WHERE namespace = 'office'", 50)
  T.eq(conn:value("SELECT value->>'rows' FROM weir.checkpoints WHERE key = 'ids/import/office'"), "50")
  local derived60 = ids.lookup("office", 60)  -- no database here: derived
  local got = ids.resolve(conn, "office", { 1, "2", 60 })
  T.eq(got, { mapped(conn, "office", 1), mapped(conn, "office", 2), derived60 })
  -- patients were not imported: resolve needs no query for them
  local seen, stop = counting(conn)
  T.eq(ids.resolve(conn, "patient", { 1, 2 }), { ids.lookup("patient", 1), ids.lookup("patient", 2) })
  stop()
  T.eq(matching(seen, "id_map"), 0, "no id_map query for a namespace without imports")
  -- importing again adds only what is new
  conn:exec "INSERT INTO migration_mappings (entity_type, legacy_id, new_id) VALUES ('office', 51, gen_random_uuid())"
  T.eq(ids.import(conn, "office", { table = "migration_mappings", legacy = "legacy_id", new = "new_id",
    where = "entity_type = 'office'" }), { rows = 51, imported = 1, already = 50 })
  T.eq(conn:value("SELECT value->>'rows' FROM weir.checkpoints WHERE key = 'ids/import/office'"), "51")
  -- after ids.prefetch names the database, lookups outside a copy read it too
  T.eq(ids.prefetch(conn, {}), 0)
  T.eq(ids.lookup("office", 51), mapped(conn, "office", 51))
  T.eq(ids.map("office", 7), mapped(conn, "office", 7))
  T.eq(ids.imported("office", 7), true)
  T.eq(ids.imported("office", 99), false)
  T.eq(ids.lookup("office", 99), ids.resolve(conn, "office", { 99 })[1])
  T.eq(ids.imported("patient", 7), false)
  -- forget removes the namespace's mappings and its import record
  T.eq(ids.forget(conn, "office"), 51)
  T.eq(conn:value "SELECT count(*) FROM weir.checkpoints WHERE key LIKE 'ids/%'", 0)
  T.eq(ids.lookup("office", 7), ids.resolve(conn, "office", { 7 })[1])
  T.ok(ids.lookup("office", 7) ~= mapped(conn, "office", 7), "derived again once forgotten")
end)

T.case("from a query, and from another database (streamed)", function()
  local dst <close> = database("ids_import_dst")
  local other <close> = database("ids_import_other")
  earlier_mapping(other)
  local st = ids.import(dst, "patient", { from = other,
    query = "SELECT legacy_id, new_id FROM migration_mappings WHERE entity_type = 'patient' AND legacy_id <= 150" })
  T.eq(st, { rows = 150, imported = 150, already = 0 })
  T.eq(ids.resolve(dst, "patient", { 150, 151 }), { mapped(other, "patient", 150), ids.resolve(other, "patient", { 151 })[1] })
  T.eq(dst:value "SELECT to_regclass('migration_mappings')", db.NULL, "nothing of the source is left on the target")
  -- a query on the target itself, as text legacy ids
  dst:exec "CREATE TABLE mm (legacy text, uuid uuid); INSERT INTO mm VALUES ('A-1', gen_random_uuid()), ('A-2', gen_random_uuid())"
  T.eq(ids.import(dst, "account", { query = "SELECT legacy, uuid FROM mm" }).imported, 2)
  T.eq(ids.resolve(dst, "account", { "A-2" })[1], dst:value "SELECT uuid::text FROM mm WHERE legacy = 'A-2'")
end)

T.case("a mapping that contradicts itself or weir.id_map is refused, and nothing is imported", function()
  local conn <close> = database("ids_import_refused")
  conn:exec [[
    CREATE TABLE mm (legacy int, uuid uuid);
    INSERT INTO mm VALUES (1, '00000000-0000-4000-8000-000000000001'), (2, '00000000-0000-4000-8000-000000000002');
  ]]
  local function refused(expected, fn)
    local err = T.raises(fn)
    T.eq(type(err), "string", expected)
    T.ok(err:match("^[^\n]*ids_import_test%.lua:%d+: ") ~= nil, "at the caller's line: " .. err)
    T.contains(err, expected)
    T.not_contains(err, "\n", "one line: " .. err)
  end
  local function import(ns) return function() ids.import(conn, ns or "x", { query = "SELECT legacy, uuid FROM mm" }) end end
  conn:exec "INSERT INTO mm VALUES (1, '00000000-0000-4000-8000-0000000000ff')"
  refused("ids.import: namespace x: 1 legacy ids have more than one UUID in a query " ..
    "(1: 00000000-0000-4000-8000-000000000001, 00000000-0000-4000-8000-0000000000ff); nothing was imported", import())
  conn:exec "DELETE FROM mm WHERE uuid = '00000000-0000-4000-8000-0000000000ff'"
  conn:exec "INSERT INTO mm VALUES (3, '00000000-0000-4000-8000-000000000002')"
  refused("ids.import: namespace x: 1 UUIDs are given to more than one legacy id in a query " ..
    "(00000000-0000-4000-8000-000000000002: 2, 3)", import())
  conn:exec "DELETE FROM mm WHERE legacy = 3; INSERT INTO mm VALUES (NULL, gen_random_uuid())"
  refused("ids.import: namespace x: 1 rows of a query have a NULL legacy id or UUID", import())
  conn:exec "DELETE FROM mm WHERE legacy IS NULL"
  -- weir already mapped legacy id 1 of namespace y (a copy ran before the import)
  ids.record(conn, "y", { 1 })
  refused("ids.import: namespace y: 1 legacy ids already have another UUID in weir.id_map (1: " ..
    ids.resolve(conn, "y", { 1 })[1] .. " in weir.id_map, 00000000-0000-4000-8000-000000000001 imported)", import("y"))
  conn:exec("INSERT INTO weir.id_map (namespace, legacy_id, new_id) VALUES ('z', '9', '00000000-0000-4000-8000-000000000002')")
  refused("ids.import: namespace z: 1 UUIDs already belong to another legacy id in weir.id_map", import("z"))
  T.eq(conn:value "SELECT count(*) FROM weir.id_map WHERE namespace IN ('x', 'z')", 1, "nothing imported")
  T.eq(conn:value "SELECT count(*) FROM weir.checkpoints WHERE key LIKE 'ids/%'", 0)
  -- misuse
  refused("ids.import: expected a table { query = SQL } or { table = NAME, legacy = COLUMN, new = COLUMN }, got string",
    function() ids.import(conn, "x", "SELECT 1") end)
  refused("ids.import: unknown option sql", function() ids.import(conn, "x", { sql = "SELECT 1" }) end)
  refused("ids.import: give either query or table, not both", function() ids.import(conn, "x", { query = "SELECT 1", table = "mm" }) end)
  refused("ids.import: table needs legacy and new", function() ids.import(conn, "x", { table = "mm" }) end)
  refused("ids.import: table \"a;b\" is not a valid table name", function()
    ids.import(conn, "x", { table = "a;b", legacy = "l", new = "n" })
  end)
  refused("ids.import: the mapping must have two columns (legacy id, UUID), a query has 3", function()
    ids.import(conn, "x", { query = "SELECT 1, 2, 3" })
  end)
  refused("ids.import: from must be a connection, got string", function() ids.import(conn, "x", { query = "SELECT 1, 2", from = "x" }) end)
  refused("ids.import: argument #1 must be a connection (db), got nil", function() ids.import(nil, "x", {}) end)
  refused("ids.resolve: legacy ids must be a list of strings or numbers, got a boolean at 1", function()
    ids.resolve(conn, "x", { true })
  end)
  refused("ids.prefetch: expected a table of namespace = {legacy ids}, got string", function() ids.prefetch(conn, "x") end)
  -- a namespace without imports needs no query, and its list is still checked
  refused("ids.prefetch: legacy ids must be a list of strings or numbers, got a boolean at 2", function()
    ids.prefetch(conn, { never_imported = { 1, true } })
  end)
  refused("ids.prefetch: legacy ids must be a list of strings or numbers, got number", function()
    ids.prefetch(conn, { never_imported = 5 })
  end)
  refused("ids.forget: expected a namespace name, got nil", function() ids.forget(conn) end)
end)

T.case("copy.table's ids option: one id_map query per batch, imported UUIDs for the rows and their foreign keys", function()
  local src <close> = database("ids_copy_src")
  local dst <close> = database("ids_copy_dst")
  src:exec [[
    CREATE TABLE patients (id int PRIMARY KEY, office_id int, name text);
    INSERT INTO patients SELECT g, 1 + g % 60, 'p' || g FROM generate_series(1, 300) g;
  ]]
  dst:exec [[
    CREATE TABLE offices (id uuid PRIMARY KEY);
    CREATE TABLE patients (id uuid PRIMARY KEY, office_id uuid NOT NULL REFERENCES offices, name text);
  ]]
  earlier_mapping(dst)
  ids.import(dst, "office", { table = "migration_mappings", legacy = "legacy_id", new = "new_id", where = "entity_type = 'office'" })
  ids.import(dst, "patient", { table = "migration_mappings", legacy = "legacy_id", new = "new_id", where = "entity_type = 'patient'" })
  -- the offices: 1..50 the earlier tool's, 51..60 new
  dst:exec "INSERT INTO offices SELECT new_id FROM migration_mappings WHERE entity_type = 'office'"
  dst:exec("INSERT INTO offices SELECT u FROM unnest($1::uuid[]) u", db.array(ids.resolve(dst, "office",
    { 51, 52, 53, 54, 55, 56, 57, 58, 59, 60 })))
  local seen, stop = counting(dst)
  local imported_seen = 0
  local st = copy.table { from = src, source = "patients", to = dst, target = "patients", batch = 100,
    ids = { id = "patient", office_id = "office" },
    transform = function(r)
      if ids.imported("patient", r.id) then imported_seen = imported_seen + 1 end
      return { id = ids.map("patient", r.id), office_id = ids.lookup("office", r.office_id), name = r.name }
    end }
  stop()
  T.eq({ st.written, st.batches, st.quarantined }, { 300, 3, 0 })
  T.eq(imported_seen, 200)
  T.eq(matching(seen, "m.namespace = u.ns AND m.legacy_id = u.l"), 3, "one prefetch per batch")
  T.eq(matching(seen, "legacy_id = $2"), 0, "no query per row")
  -- every row carries the earlier tool's UUIDs where it has one, derived ones elsewhere
  T.eq(dst:value [[SELECT count(*) FROM patients p JOIN migration_mappings m ON m.entity_type = 'patient' AND m.new_id = p.id]], 200)
  T.eq(dst:value("SELECT office_id::text FROM patients WHERE id = $1::uuid", mapped(dst, "patient", 7)), mapped(dst, "office", 8))
  T.eq(dst:value("SELECT office_id::text FROM patients WHERE id = $1::uuid", ids.resolve(dst, "patient", { 250 })[1]),
    ids.resolve(dst, "office", { 11 })[1])
  -- the new rows' mappings are recorded with their batches, the imported ones are not doubled
  T.eq(dst:value "SELECT count(*) FROM weir.id_map WHERE namespace = 'patient'", 300)

  -- without the option the same copy is right too, one query per imported lookup
  dst:exec "TRUNCATE patients"
  ids.prefetch(dst, {})  -- an empty batch cache
  seen, stop = counting(dst)
  copy.table { from = src, source = "patients", to = dst, target = "patients", batch = 100,
    transform = function(r) return { id = ids.map("patient", r.id), office_id = ids.lookup("office", r.office_id), name = r.name } end }
  stop()
  T.eq(dst:value [[SELECT count(*) FROM patients p JOIN migration_mappings m ON m.entity_type = 'patient' AND m.new_id = p.id]], 200)
  T.eq(matching(seen, "legacy_id = $2"), 600, "a query per imported lookup")

  -- a namespace without imports costs the ids option no id_map query
  src:exec "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'n' FROM generate_series(1, 50) g"
  dst:exec "CREATE TABLE notes (id uuid PRIMARY KEY, body text)"
  seen, stop = counting(dst)
  copy.table { from = src, source = "notes", to = dst, target = "notes", batch = 20, ids = { id = "note" },
    transform = function(r) return { id = ids.map("note", r.id), body = r.body } end }
  stop()
  T.eq(matching(seen, "m.namespace = u.ns"), 0)
  T.eq(matching(seen, "legacy_id = $2"), 0)
  -- which namespaces are imported is read once by a copy, not again for each of its 3 batches
  T.eq(matching(seen, "starts_with(key"), 1, "imported namespaces read once per copy")
  -- an import made on another connection to the same database is seen by the next copy
  local other <close> = dst:clone()
  other:exec "CREATE TABLE note_ids (legacy_id int, new_id uuid)"
  other:exec("INSERT INTO note_ids VALUES (3, $1::uuid)", "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b")
  ids.forget(other, "note")  -- the derived mappings the copy recorded
  ids.import(other, "note", { table = "note_ids", legacy = "legacy_id", new = "new_id" })
  dst:exec "TRUNCATE notes"
  copy.table { from = src, source = "notes", to = dst, target = "notes", batch = 20, ids = { id = "note" },
    transform = function(r) return { id = ids.map("note", r.id), body = r.body } end }
  T.eq(dst:value "SELECT count(*) FROM notes WHERE id = '0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b'", 1)
  ids.forget(dst, "note")
  other:exec "DROP TABLE note_ids"
  -- misuse
  T.contains(T.raises(function()
    copy.table { from = src, source = "notes", to = dst, target = "notes", ids = { id = "note" } }
  end), "copy.table: ids goes with a transform")
  T.contains(T.raises(function()
    copy.table { from = src, source = "notes", to = dst, target = "notes", ids = { id = 5 }, transform = print }
  end), "copy.table: ids must be a table of source column = namespace (strings), got id = 5")
  dst:exec "TRUNCATE notes"
  T.contains(T.raises(function()
    copy.table { from = src, source = "notes", to = dst, target = "notes", ids = { nope = "note" },
      transform = function(r) return { id = ids.map("note", r.id) } end }
  end), "ids names column nope, which the source rows do not have")
end)

T.done()
