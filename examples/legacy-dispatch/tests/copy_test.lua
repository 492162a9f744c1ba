-- The whole migration from the legacy database ($LEGACY_URL, weir.lua's `legacy` connection,
-- generated with generate.lua; only read): every phase up, the report's accounting, the rows a
-- staff member sees through row-level security, and down back to an empty database.
-- (weir test, from the example directory.)
local ID = "001_legacy_dispatch"

describe("the migration from the legacy database", function()
  it("goes up, accounts for every legacy row, and goes down again", function()
    project.up()
    local r = db:value("SELECT value FROM weir.checkpoints WHERE key = $1", ID .. "/report/report")
    expect(#r.problems):to_be(0)
    expect(r.rate >= 0.995):to_be(true)
    expect(r.migrated + r.quarantined + r.skipped):to_be(r.legacy)
    local legacy = weir.connection("legacy")
    expect(db:value "SELECT count(*) FROM orders"):to_be(r.tables.dispatch_orders.migrated)
    expect(r.tables.dispatch_orders.legacy):to_be(legacy:value "SELECT count(*) FROM dispatch_orders")
    -- an order keeps its patient: read back through weir.id_map
    local o = legacy:one "SELECT id, patient_id FROM dispatch_orders WHERE id = 2"
    expect(db:value("SELECT patient_id::text FROM orders WHERE id = $1::uuid", ids.lookup("order", o.id)))
      :to_be(ids.lookup("patient", o.patient_id))
    -- a staff member sees their office's orders only
    local staff = db:one "SELECT id::text, office_id::text FROM profiles WHERE role = 'staff' AND office_id IS NOT NULL ORDER BY email LIMIT 1"
    local seen
    pcall(db.tx, db, function()
      db:exec "SET LOCAL ROLE authenticated"
      db:exec("SELECT set_config('request.jwt.claims', $1, true)", json.encode { sub = staff.id })
      seen = db:value("SELECT count(*) FILTER (WHERE office_id <> $1::uuid) || '/' || count(*) FROM orders", staff.office_id)
      error("rolled back")
    end)
    expect(seen):to_be("0/" .. db:value("SELECT count(*) FROM orders WHERE office_id = $1::uuid", staff.office_id))
    project.down(ID)
    expect(db:value "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"):to_be(0)
    expect(db:value "SELECT count(*) FROM weir.id_map"):to_be(0)
  end)
end)
