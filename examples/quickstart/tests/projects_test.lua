-- The quickstart's migration, phase by phase, each test on a database of its own.
--
--   weir test        from this directory (weir.lua: DATABASE_URL; the role must create databases)

local ID = "001_projects"

local function columns()
  local out = {}
  for _, r in ipairs(db:query [[SELECT column_name::text AS c FROM information_schema.columns
                                 WHERE table_name = 'projects' ORDER BY ordinal_position]]) do
    out[#out + 1] = r.c
  end
  return out
end

describe("001_projects", function()
  it("expand creates projects with 1000 seeded rows", function()
    expect(project.up(ID .. ":expand")):to_contain(ID .. ":expand done")
    expect(db:value "SELECT count(*) FROM projects"):to_be(1000)
    expect(columns()):to_equal({ "id", "name", "owner", "created_at" })
    expect(function() db:exec "INSERT INTO projects (id, name, owner) VALUES (5000, 'x', 'y')" end):to_raise("428C9")
  end)

  it("index builds projects_owner_idx concurrently, valid, and queries by owner use it", function()
    project.up(ID .. ":index")
    expect(db:value "SELECT indisvalid FROM pg_index WHERE indexrelid = 'projects_owner_idx'::regclass"):to_be(true)
    db:exec "ANALYZE projects"
    local plan = {}
    for _, r in ipairs(db:query "EXPLAIN SELECT * FROM projects WHERE owner = 'owner3'") do plan[#plan + 1] = r["QUERY PLAN"] end
    expect(table.concat(plan, "\n")):to_contain("projects_owner_idx")
  end)

  it("backfill gives every project a slug", function()
    expect(project.up()):to_contain("backfilled 1000 slugs")
    expect(db:value "SELECT count(*) FROM projects WHERE slug IS NULL"):to_be(0)
    expect(db:value "SELECT slug FROM projects WHERE name = 'project 42'"):to_be("project-42")
    expect(db:value "SELECT value FROM weir.checkpoints WHERE key = '001_projects/backfill/slugged'"):to_be(1000)
  end)

  it("a row written between expand and backfill is backfilled too", function()
    project.up(ID .. ":index")
    db:exec "INSERT INTO projects (name, owner) VALUES ('late arrival', 'owner1')"
    expect(project.up()):to_contain("backfilled 1001 slugs")
    expect(db:value "SELECT slug FROM projects WHERE name = 'late arrival'"):to_be("late-arrival")
  end)

  it("down takes each phase back; up again gives the same result", function()
    project.up()
    local before = db:value "SELECT md5(string_agg(name || owner || slug, ',' ORDER BY id)) FROM projects"
    expect(project.down(ID .. ":backfill")):to_contain(ID .. ":backfill rolled back")
    expect(columns()):to_equal({ "id", "name", "owner", "created_at" })
    project.down(ID .. ":index")
    expect(db:value "SELECT to_regclass('projects_owner_idx')"):to_be_nil()
    project.down(ID)
    expect(db:value "SELECT to_regclass('projects')"):to_be_nil()
    expect(db:value "SELECT count(*) FROM weir.checkpoints"):to_be(0)
    project.up()
    expect(db:value "SELECT md5(string_agg(name || owner || slug, ',' ORDER BY id)) FROM projects"):to_be(before)
  end)

  it("an INVALID projects_owner_idx left by an earlier failed build fails the index phase", function()
    project.up(ID .. ":expand")
    db:exec "CREATE INDEX projects_owner_idx ON projects (owner)"
    db:exec "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'projects_owner_idx'::regclass"
    expect(function() project.up() end):to_raise("index: up failed: verify failed: the index build left an invalid index")
    expect(db:value "SELECT state FROM weir.phases WHERE phase = 'index'"):to_be("failed")
    expect(db:value "SELECT count(*) FROM weir.phases WHERE phase = 'backfill'"):to_be(0)
  end)
end)
