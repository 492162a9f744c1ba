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

T.done()
