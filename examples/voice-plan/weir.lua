-- weir's project file for this example: from this directory, `weir plan`, `weir up`,
-- `weir status` and `weir down 001_voice_plan` need no further flags.
return {
  migrations = "migrations",
  fixture = "roundtrip.lua",  -- where `weir test --roundtrip` starts: the fixture, dual_write defined off
  db = env "DATABASE_URL",  -- or --db URL
  -- lock_timeout and retries: weir's defaults, 500 ms per attempt and 10 retries with jittered
  -- backoff, so a DDL statement queued behind a long query stalls the table's readers at most
  -- half a second at a time (docs/migrations.md, "What lock timeouts cost readers")
}
