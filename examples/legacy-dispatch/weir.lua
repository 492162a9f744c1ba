-- weir's project file for the legacy-dispatch example. The migration runs on the NEW database
-- (`--db URL` or $DATABASE_URL) and reads the legacy one through the named connection `legacy`
-- (weir.connection("legacy") in the script), taken from $LEGACY_URL.
return {
  migrations = "migrations",
  db = env "DATABASE_URL",                 -- the new database (or --db URL)
  connections = {
    legacy = env "LEGACY_URL",             -- the legacy dispatch database, only ever read
  },
  -- lock_timeout and retries: weir's defaults, 500 ms per attempt and 10 retries with jittered
  -- backoff, so a DDL statement queued behind a long query stalls the table's readers at most
  -- half a second at a time (docs/migrations.md, "What lock timeouts cost readers")

  -- The migration's own knobs (weir.var in the script, which checks them); the environment
  -- overrides the defaults here: DISPATCH_BATCH=2000 weir up
  vars = {
    batch = env("DISPATCH_BATCH", "1000"),          -- rows per copy batch: 500 to 2000, the seed's range
    deletions = env("DISPATCH_DELETIONS", "soft"),  -- legacy deletions: "soft" (deleted_at) or "delete"
  },
}
