-- weir's project file for this example: from this directory, `weir plan`, `weir up`,
-- `weir status` and `weir down 001_voice_plan` need no further flags.
return {
  migrations = "migrations",
  fixture = "roundtrip.lua",  -- where `weir test --roundtrip` starts: the fixture, dual_write defined off
  db = env "DATABASE_URL",  -- or --db URL
  lock_timeout = "2s",      -- never queue behind a long query on the live tables
  retries = 5,
}
