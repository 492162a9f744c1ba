-- weir's project file for this example: from this directory, `weir up`, `weir plan`,
-- `weir status` and `weir down 001_feature_planner_schema` need no further flags.
return {
  migrations = "migrations",
  fixture = "fixture.lua",  -- the database before the migrations: `weir test --roundtrip` starts from it
  db = env "DATABASE_URL",  -- or --db URL
  -- lock_timeout and retries: weir's defaults, 500 ms per attempt and 10 retries with jittered
  -- backoff, so a DDL statement queued behind a long query stalls the table's readers at most
  -- half a second at a time (docs/migrations.md, "What lock timeouts cost readers")
  vars = {
    grant_role = env("FP_GRANT_ROLE", "authenticated"),  -- the seed's GRANTs go to this role, when it exists
    compat_views = env("FP_COMPAT_VIEWS", "off"),         -- "on": views in public until the flag is turned off
  },
}
