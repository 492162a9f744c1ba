-- weir's project file for the quickstart: from this directory, `weir plan`, `weir up`,
-- `weir status`, `weir down 001_projects`, `weir test` and `weir test --roundtrip` need no
-- further flags. (No fixture: the migration seeds its own rows.)
return {
  migrations = "migrations",
  db = env "DATABASE_URL",  -- or --db URL
}
