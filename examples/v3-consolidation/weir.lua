-- weir's project file for this example: from this directory, `weir plan`, `weir up`,
-- `weir status` and `weir down 001_v3_consolidation` need no further flags.
return {
  migrations = "migrations",
  fixture = "fixture.lua",  -- the database before the migrations: `weir test --roundtrip` starts from it
  db = env "DATABASE_URL",  -- or --db URL
  -- lock_timeout and retries: weir's defaults, 500 ms per attempt and 10 retries with jittered
  -- backoff, so a DDL statement queued behind a long query stalls the table's readers at most
  -- half a second at a time (docs/migrations.md, "What lock timeouts cost readers")
  vars = {
    schema = env("V3_SCHEMA", "public"),        -- the application's schema (the seed's is `migration`)
    backup_dir = env("V3_BACKUP_DIR", "backups"), -- where backup writes its pg_dump archive
    backup_scope = env("V3_BACKUP_SCOPE", "tables"), -- or "database": the seed's full backup
  },
}
