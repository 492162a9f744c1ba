-- check: schema assertions and data checks against a real database, raising outside
-- check.run and collecting inside it.
local T = require "testing"

db:exec [[
  CREATE SCHEMA app;
  CREATE TYPE app.mood AS ENUM ('sad', 'ok');
  CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, mood app.mood, note text);
  CREATE TABLE app.posts (id bigint PRIMARY KEY, user_id bigint REFERENCES app.users, title text, status text);
  CREATE INDEX posts_user ON app.posts (user_id);
  CREATE VIEW app.v AS SELECT 1 AS one;
  ALTER TABLE app.posts ENABLE ROW LEVEL SECURITY;
  CREATE POLICY mine ON app.posts USING (true);
  INSERT INTO app.users VALUES (1, 'a@x', 'ok', NULL), (2, 'b@x', 'sad', 'n');
  INSERT INTO app.posts VALUES (10, 1, 't', 'draft'), (11, 2, 'u', 'live'), (12, NULL, NULL, 'live');
  CREATE TABLE app.deps (task int, depends_on int);
  INSERT INTO app.deps VALUES (1, 2), (2, 3), (3, 4);
  CREATE TABLE app.copy (LIKE app.users);
  INSERT INTO app.copy SELECT * FROM app.users;
]]

T.case("schema assertions pass on what exists", function()
  T.ok(check.has_schema(db, "app"))
  T.ok(check.has_table(db, "app.users"))
  T.ok(check.hasnt_table(db, "app.nope"))
  T.ok(check.has_view(db, "app.v"))
  T.ok(check.has_column(db, "app.users", "email", "text"))
  T.ok(check.hasnt_column(db, "app.users", "deadline"))
  T.ok(check.col_type_is(db, "app.users", "id", "int8"))
  T.ok(check.col_not_null(db, "app.users", "email"))
  T.ok(check.has_index(db, "app.posts", "posts_user"))
  T.ok(check.has_index(db, "app.posts", { "user_id" }))
  T.ok(check.has_pk(db, "app.posts"))
  T.ok(check.fk_ok(db, "app.posts", "user_id", "app.users", "id"))
  T.ok(check.has_enum(db, "app.mood"))
  T.ok(check.enum_has_labels(db, "app.mood", { "sad", "ok" }))
  T.ok(check.has_policy(db, "app.posts", "mine"))
end)

T.case("rls_enabled, has_constraint, has_trigger and has_function: pass on what exists, one line otherwise", function()
  db:exec [[
    CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b';
    CREATE TRIGGER posts_touch BEFORE UPDATE ON app.posts FOR EACH ROW EXECUTE FUNCTION app.touch();
    CREATE TRIGGER posts_off BEFORE UPDATE ON app.posts FOR EACH ROW EXECUTE FUNCTION app.touch();
    ALTER TABLE app.posts DISABLE TRIGGER posts_off;
    ALTER TABLE app.posts ADD CONSTRAINT posts_status_check CHECK (status IN ('draft', 'live'));
    ALTER TABLE app.posts ADD CONSTRAINT posts_title_check CHECK (title <> '') NOT VALID;
  ]]
  T.ok(check.rls_enabled(db, "app.posts"))
  T.ok(check.has_constraint(db, "app.posts", "posts_status_check"))
  T.ok(check.has_constraint(db, "app.posts", "posts_pkey"))
  T.ok(check.has_constraint(db, "app.posts", "posts_user_id_fkey"))
  T.ok(check.has_trigger(db, "app.posts", "posts_touch"))
  T.ok(check.has_function(db, "app.touch()"))
  T.ok(check.has_function(db, "app.add(integer, int4)"))
  T.contains(T.raises(function() check.rls_enabled(db, "app.users") end), "check.rls_enabled: row-level security is not enabled on app.users")
  T.contains(T.raises(function() check.has_constraint(db, "app.posts", "posts_title_check") end),
    "check.has_constraint: constraint posts_title_check on app.posts is NOT VALID")
  T.contains(T.raises(function() check.has_constraint(db, "app.users", "posts_status_check") end),
    "check.has_constraint: no constraint posts_status_check on app.users")
  T.contains(T.raises(function() check.has_trigger(db, "app.posts", "posts_off") end), "check.has_trigger: trigger posts_off on app.posts is disabled")
  T.contains(T.raises(function() check.has_trigger(db, "app.users", "posts_touch") end), "check.has_trigger: no trigger posts_touch on app.users")
  T.contains(T.raises(function() check.has_function(db, "app.add(text, text)") end), "check.has_function: function app.add(text, text) does not exist")
  T.contains(T.raises(function() check.has_function(db, "app.nope()") end), "check.has_function: function app.nope() does not exist")
  T.contains(T.raises(function() check.has_function(db, "app.touch") end),
    'check.has_function: "app.touch" is not a function signature (expected name(argument types))')
  -- a type that does not exist fails the check; inside a transaction (a phase's verify) the
  -- transaction goes on
  db:tx(function()
    T.contains(T.raises(function() check.has_function(db, "app.add(nosuchtype, int)") end),
      'check.has_function: function app.add(nosuchtype, int) does not exist (type "nosuchtype" does not exist)')
    T.eq(db:value "SELECT 1", 1)
    local r = check.run(function()
      check.has_function(db, "app.add(nosuchtype, int)")
      check.has_trigger(db, "app.posts", "posts_touch")
    end)
    T.eq({ r.passed, r.failed }, { 1, 1 })
  end)
  db:exec [[
    ALTER TABLE app.posts DROP CONSTRAINT posts_status_check, DROP CONSTRAINT posts_title_check;
    DROP TRIGGER posts_touch ON app.posts; DROP TRIGGER posts_off ON app.posts;
    DROP FUNCTION app.touch(); DROP FUNCTION app.add(int, int);
  ]]
end)

T.case("a failing assertion raises one line naming the check and what is wrong", function()
  T.contains(T.raises(function() check.has_table(db, "app.nope") end), "check.has_table: table app.nope does not exist")
  T.contains(T.raises(function() check.col_type_is(db, "app.users", "email", "integer") end),
    "check.col_type_is: column app.users.email is text, expected integer")
  T.contains(T.raises(function() check.col_not_null(db, "app.users", "note") end), "check.col_not_null: column app.users.note allows NULL")
  T.contains(T.raises(function() check.has_index(db, "app.posts", { "title" }) end), "check.has_index: no valid index (title) on app.posts")
  T.contains(T.raises(function() check.fk_ok(db, "app.posts", "user_id", "app.v", "one") end), "check.fk_ok: no validated foreign key app.posts(user_id) → app.v(one)")
  T.contains(T.raises(function() check.enum_has_labels(db, "app.mood", { "ok", "sad" }) end),
    "check.enum_has_labels: enum app.mood has (sad, ok), expected (ok, sad)")
  T.contains(T.raises(function() check.hasnt_column(db, "app.users", "email") end), "check.hasnt_column: column app.users.email still exists")
  -- the error names the line that called the check (a verify function's line in a migration)
  local function verify() check.has_table(db, "app.nope") end
  local _, err = pcall(verify)
  T.ok(tostring(err):find("check_test%.lua:%d+: check%.has_table") ~= nil, err)
end)

T.case("data checks", function()
  T.ok(check.row_counts { source = "app.users", target = "app.copy" })
  T.ok(check.checksum { source = "app.users", target = "app.copy", key = "id", columns = { "email", "mood" }, chunk = 1 })
  T.ok(check.no_orphans(db, "app.posts", "user_id", "app.users", "id"))
  T.ok(check.unique(db, "app.users", "email"))
  T.ok(check.accepted_values(db, "app.posts", "status", { "draft", "live" }))
  T.ok(check.acyclic(db, "app.deps", "task", "depends_on"))
  T.ok(check.sql(db, "SELECT count(*) = 3 FROM app.posts", "three posts"))
  T.ok(check.sql(db, "SELECT count(*) = $1 FROM app.posts WHERE status = $2", "two live posts", 2, "live"))
  db:exec "UPDATE app.copy SET email = 'changed' WHERE id = 2"
  T.contains(T.raises(function() check.checksum { source = "app.users", target = "app.copy", key = "id", columns = { "email" }, chunk = 1 } end),
    "check.checksum: app.users and app.copy differ in the chunk of id 2..2")
  db:exec "INSERT INTO app.deps VALUES (4, 2)"
  T.contains(T.raises(function() check.acyclic(db, "app.deps", "task", "depends_on") end), "check.acyclic: app.deps has a cycle: ")
  T.contains(T.raises(function() check.accepted_values(db, "app.posts", "status", { "live" }) end),
    "check.accepted_values: app.posts.status has values outside the accepted ones: draft")
  T.contains(T.raises(function() check.not_null(db, "app.posts", "user_id") end), "check.not_null: 1 rows of app.posts have user_id NULL")
  db:exec "INSERT INTO app.copy VALUES (3, 'c@x', 'ok', NULL)"
  T.contains(T.raises(function() check.row_counts { source = "app.users", target = "app.copy" } end),
    "check.row_counts: app.users has 2 rows, app.copy has 3")
end)

T.case("json_schema validates every value of a jsonb column, naming failing rows and pointers", function()
  db:exec [[
    CREATE TABLE app.plans (id bigint PRIMARY KEY, plan_json jsonb);
    INSERT INTO app.plans VALUES (1, '{"version": "1.0.0", "steps": [{"title": "a"}]}'),
                                 (2, '{"version": "1.0.0", "steps": [{"title": 7}]}'),
                                 (3, '{"steps": []}');
  ]]
  local schema = {
    type = "object", required = { "version", "steps" },
    properties = { version = { const = "1.0.0" },
                   steps = { type = "array", items = { type = "object", properties = { title = { type = "string" } } } } },
  }
  T.contains(T.raises(function() check.json_schema(db, "app.plans", "plan_json", schema) end),
    "check.json_schema: 2 of 3 values of app.plans.plan_json do not match: id 2: /steps/0/title")
  db:exec "DELETE FROM app.plans WHERE id > 1"
  T.ok(check.json_schema(db, "app.plans", "plan_json", schema))
end)

T.case("check.run collects every result into a report", function()
  local r = check.run(function()
    check.has_table(db, "app.users")
    check.has_table(db, "app.nope")
    check.unique(db, "app.posts", "status")
  end)
  T.eq({ r.passed, r.failed, r.ok }, { 1, 2, false })
  T.contains(r:text(), "ok   has_table        table app.users")
  T.contains(r:text(), "FAIL has_table        table app.nope does not exist")
  T.contains(r:text(), "1 passed, 2 failed")
  local doc = json.decode(r:json())
  T.eq(doc.failed, 2)
  T.eq(doc.results[3].check, "unique")
  local clean = check.run(function() check.has_pk(db, "app.users") end)
  T.eq(clean.ok, true)
end)

-- Every check that takes a table, called with `bad` in each table position in turn (and good
-- names elsewhere): { label, fn } pairs, fn raising the check's error.
local function table_calls(bad)
  local schema = { type = "object" }
  return {
    { "has_table", function() return check.has_table(db, bad) end },
    { "hasnt_table", function() return check.hasnt_table(db, bad) end },
    { "has_view", function() return check.has_view(db, bad) end },
    { "has_column", function() return check.has_column(db, bad, "email") end },
    { "hasnt_column", function() return check.hasnt_column(db, bad, "email") end },
    { "col_type_is", function() return check.col_type_is(db, bad, "email", "text") end },
    { "col_not_null", function() return check.col_not_null(db, bad, "email") end },
    { "has_index", function() return check.has_index(db, bad, "posts_user") end },
    { "rls_enabled", function() return check.rls_enabled(db, bad) end },
    { "has_constraint", function() return check.has_constraint(db, bad, "posts_pkey") end },
    { "has_trigger", function() return check.has_trigger(db, bad, "posts_touch") end },
    { "has_pk", function() return check.has_pk(db, bad) end },
    { "fk_ok", function() return check.fk_ok(db, bad, "user_id", "app.users", "id") end },
    { "fk_ok", function() return check.fk_ok(db, "app.posts", "user_id", bad, "id") end },
    { "has_policy", function() return check.has_policy(db, bad, "mine") end },
    { "row_counts", function() return check.row_counts { source = bad, target = "app.copy" } end, "source " },
    { "row_counts", function() return check.row_counts { source = "app.users", target = bad } end, "target " },
    { "checksum", function() return check.checksum { source = bad, target = "app.copy", columns = { "email" } } end, "source " },
    { "checksum", function() return check.checksum { source = "app.users", target = bad, columns = { "email" } } end, "target " },
    { "no_orphans", function() return check.no_orphans(db, bad, "user_id", "app.users", "id") end },
    { "no_orphans", function() return check.no_orphans(db, "app.posts", "user_id", bad, "id") end },
    { "not_null", function() return check.not_null(db, bad, "email") end },
    { "unique", function() return check.unique(db, bad, "email") end },
    { "accepted_values", function() return check.accepted_values(db, bad, "status", { "live" }) end },
    { "acyclic", function() return check.acyclic(db, bad, "task", "depends_on") end },
    { "json_schema", function() return check.json_schema(db, bad, "note", schema) end },
  }
end

T.case("a malformed table name is one line naming the check, for every check, before any query", function()
  for _, bad in ipairs { "a.b.c", "", "x;drop", ".users", "app.", "users ", 'app."users"', 42 } do
    local shown = type(bad) == "string" and json.encode(bad) or tostring(bad)
    for _, c in ipairs(table_calls(bad)) do
      local name, fn, role = c[1], c[2], c[3]
      local err = T.raises(fn)
      T.eq(type(err), "string", name .. " raises a message, not an SQL error: " .. T.show(err))
      T.eq(err:gsub("^[^:]*check_test%.lua:%d+: ", ""),
        "check." .. name .. ": " .. (role or "") .. shown .. " is not a valid table name (expected name or schema.name)")
    end
  end
  -- nothing was changed by the refused checks
  T.eq(db:value "SELECT count(*) FROM app.users", 2)
end)

T.case("a malformed table name names the line that called the check, even inside check.run", function()
  local function verify() check.not_null(db, "a.b.c", "email") end
  local err = T.raises(verify)
  T.ok(err:find("check_test%.lua:%d+: check%.not_null: \"a%.b%.c\" is not a valid table name") ~= nil, err)
  local function verify2() check.row_counts { source = "app.users", target = "x;drop" } end
  err = T.raises(verify2)
  T.ok(err:find("check_test%.lua:%d+: check%.row_counts: target \"x;drop\" is not a valid table name") ~= nil, err)
  -- a mistake in the script, not a failing check: check.run records it as an error and stops
  local r = check.run(function()
    check.has_table(db, "app.users")
    check.has_table(db, "a.b.c")
    check.has_table(db, "app.posts")
  end)
  T.eq({ r.passed, r.failed }, { 1, 1 })
  T.eq(r.results[2].check, "error")
  T.contains(r.results[2].message, 'check.has_table: "a.b.c" is not a valid table name (expected name or schema.name)')
end)

T.case("a missing or empty schema, enum, policy, constraint or trigger name is one line at the caller's line", function()
  local calls = {
    { "has_schema", "a schema name", function(v) local ok = check.has_schema(db, v); return ok end },
    { "has_enum", "an enum name", function(v) local ok = check.has_enum(db, v); return ok end },
    { "enum_has_labels", "an enum name", function(v) local ok = check.enum_has_labels(db, v, { "a" }); return ok end },
    { "has_policy", "a policy name", function(v) local ok = check.has_policy(db, "app.users", v); return ok end },
    { "has_constraint", "a constraint name", function(v) local ok = check.has_constraint(db, "app.users", v); return ok end },
    { "has_trigger", "a trigger name", function(v) local ok = check.has_trigger(db, "app.users", v); return ok end },
  }
  for _, c in ipairs(calls) do
    for _, v in ipairs { false, 42, "" } do
      local err = T.raises(c[3], v)
      local got = v == "" and "an empty string" or type(v)
      T.ok(err:find("^[^:]*check_test%.lua:%d+: ") ~= nil, c[1] .. " names the test's line: " .. err)
      T.eq(err:gsub("^[^:]*check_test%.lua:%d+: ", ""),
        ("check.%s: expected %s (a non-empty string), got %s"):format(c[1], c[2], got))
    end
    local err = T.raises(c[3])
    T.contains(err, ("check.%s: expected %s (a non-empty string), got nil"):format(c[1], c[2]))
  end
  T.contains(T.raises(check.enum_has_labels, db, "app.status", "a,b"),
    "check.enum_has_labels: expected a list of labels, got string")
end)

T.case("row_counts and checksum without a table of options, a side or columns: one line", function()
  T.eq(T.raises(check.row_counts, "app.users"),
    "check.row_counts: expected a table of options {source = ..., target = ...}")
  T.eq(T.raises(check.row_counts, { target = "app.copy" }), "check.row_counts: source is required (a table: name or schema.name)")
  T.eq(T.raises(check.checksum, { source = "app.users" }), "check.checksum: target is required (a table: name or schema.name)")
  T.eq(T.raises(check.checksum, { source = "app.users", target = "app.copy" }),
    "check.checksum: columns is required (a list of the column names to compare)")
end)

T.case("table names are looked up exactly as the checks query them: app.Users is not app.users", function()
  -- schema assertions: not found by a case-folding lookup
  local expected = {
    has_table = "table app.Users does not exist",
    has_view = "view app.Users does not exist",
    has_column = "column app.Users.email does not exist",
    col_type_is = "column app.Users.email does not exist",
    col_not_null = "column app.Users.email does not exist",
    hasnt_column = nil,  -- holds: there is no such column
    has_index = "no valid index posts_user on app.Users",
    has_pk = "app.Users has no primary key",
    has_policy = "no policy mine on app.Users",
    rls_enabled = "table app.Users does not exist",
    has_constraint = "no constraint posts_pkey on app.Users",
    has_trigger = "no trigger posts_touch on app.Users",
    fk_ok = "no validated foreign key",
    -- data checks: a table that does not exist is a failing check, not an SQL error
    row_counts = "table app.Users does not exist",
    checksum = "table app.Users does not exist",
    no_orphans = "table app.Users does not exist",
    not_null = "table app.Users does not exist",
    unique = "table app.Users does not exist",
    accepted_values = "table app.Users does not exist",
    acyclic = "table app.Users does not exist",
    json_schema = "table app.Users does not exist",
  }
  for _, c in ipairs(table_calls("app.Users")) do
    local name, fn = c[1], c[2]
    if name == "hasnt_table" or name == "hasnt_column" then
      T.eq(fn(), true, name)
    else
      local err = T.raises(fn)
      T.eq(type(err), "string", name .. " fails as a check, not an SQL error: " .. T.show(err))
      T.contains(err, "check." .. name .. ": " .. expected[name], name)
    end
  end
  -- inside check.run a missing table is one failed check among the others
  local r = check.run(function()
    check.not_null(db, "app.Users", "email")
    check.row_counts { source = "app.users", target = "Copy" }
    check.unique(db, "app.users", "email")
  end)
  T.eq({ r.passed, r.failed }, { 1, 2 })
  T.eq(r.results[2].message, "table Copy does not exist")
end)

T.case("a mixed-case table is found by its exact name in every check", function()
  db:exec [[
    CREATE TABLE app."Mixed" (id bigint PRIMARY KEY, user_id bigint REFERENCES app.users, status text NOT NULL, doc jsonb);
    CREATE INDEX "Mixed_user" ON app."Mixed" (user_id);
    CREATE VIEW app."MixedView" AS SELECT * FROM app."Mixed";
    ALTER TABLE app."Mixed" ENABLE ROW LEVEL SECURITY;
    CREATE POLICY mine ON app."Mixed" USING (true);
    INSERT INTO app."Mixed" VALUES (1, 1, 'live', '{}'), (2, 2, 'draft', '{}');
    CREATE TABLE "Edges" (a int, b int);
    INSERT INTO "Edges" VALUES (1, 2);
  ]]
  T.ok(check.has_table(db, "app.Mixed"))
  T.ok(check.hasnt_table(db, "app.mixed"))
  T.ok(check.has_view(db, "app.MixedView"))
  T.ok(check.has_column(db, "app.Mixed", "status", "text"))
  T.ok(check.hasnt_column(db, "app.Mixed", "Status"))
  T.ok(check.col_type_is(db, "app.Mixed", "id", "bigint"))
  T.ok(check.col_not_null(db, "app.Mixed", "status"))
  T.ok(check.has_index(db, "app.Mixed", "Mixed_user"))
  T.ok(check.has_pk(db, "app.Mixed"))
  T.ok(check.fk_ok(db, "app.Mixed", "user_id", "app.users", "id"))
  T.ok(check.has_policy(db, "app.Mixed", "mine"))
  T.ok(check.rls_enabled(db, "app.Mixed"))
  T.ok(check.has_constraint(db, "app.Mixed", "Mixed_pkey"))
  T.ok(check.row_counts { source = "app.Mixed", target = "app.MixedView" })
  T.ok(check.checksum { source = "app.Mixed", target = "app.MixedView", columns = { "status" } })
  T.ok(check.no_orphans(db, "app.Mixed", "user_id", "app.users", "id"))
  T.ok(check.not_null(db, "app.Mixed", "status"))
  T.ok(check.unique(db, "app.Mixed", "id"))
  T.ok(check.accepted_values(db, "app.Mixed", "status", { "live", "draft" }))
  T.ok(check.acyclic(db, "Edges", "a", "b"))
  T.ok(check.json_schema(db, "app.Mixed", "doc", { type = "object" }))
  db:exec [[DROP VIEW app."MixedView"; DROP TABLE app."Mixed"; DROP TABLE "Edges"]]
end)

T.done()
