-- weir's project file for this example: from this directory, `weir plan`, `weir up`,
-- `weir status` and `weir down 001_v3_consolidation` need no further flags.
return {
  migrations = "migrations",
  fixture = "fixture.lua",  -- the database before the migrations: `weir test --roundtrip` starts from it
  db = env "DATABASE_URL",  -- or --db URL
  lock_timeout = "2s",      -- drop takes ACCESS EXCLUSIVE on data_imports and assets: never queue behind a long query
  retries = 5,
}
