-- A first migration: a table, a concurrent index, a backfilled column, each phase reversible.
return migration "001_projects" {
  description = "projects with owners and a search index",

  phase "expand" {
    up = function(db)
      db:exec [[
        CREATE TABLE projects (
          id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          name       text NOT NULL,
          owner      text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO projects (name, owner)
        SELECT 'project ' || g, 'owner' || (g % 7) FROM generate_series(1, 1000) g;
      ]]
    end,
    down = function(db) db:exec "DROP TABLE projects" end,
    verify = function(db)
      return db:value "SELECT count(*) FROM projects" == 1000, "expected 1000 seeded projects"
    end,
  },

  phase "index" {
    transaction = false,  -- CREATE INDEX CONCURRENTLY cannot run inside a transaction
    up = function(db)
      db:exec "CREATE INDEX CONCURRENTLY IF NOT EXISTS projects_owner_idx ON projects (owner)"
    end,
    down = function(db) db:exec "DROP INDEX CONCURRENTLY IF EXISTS projects_owner_idx" end,
    verify = function(db)
      return db:value [[SELECT indisvalid FROM pg_index WHERE indexrelid = 'projects_owner_idx'::regclass]],
        "the index build left an invalid index"
    end,
  },

  phase "backfill" {
    requires = { "expand" },
    up = function(db)
      db:exec "ALTER TABLE projects ADD COLUMN slug text"
      local done = weir.checkpoint("slugged") or 0
      local n = db:exec("UPDATE projects SET slug = replace(name, ' ', '-') WHERE slug IS NULL AND id > $1", done)
      weir.checkpoint("slugged", db:value "SELECT max(id) FROM projects")
      print(("backfilled %d slugs"):format(n))
    end,
    down = function(db) db:exec "ALTER TABLE projects DROP COLUMN slug" end,
    verify = function(db)
      return db:value "SELECT count(*) FROM projects WHERE slug IS NULL" == 0, "rows without a slug remain"
    end,
  },
}
