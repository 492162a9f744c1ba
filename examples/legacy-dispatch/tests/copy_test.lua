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

  it("writes the first pass into a table it created with COPY: a row put there under a legacy row's uuid stays, and the legacy row is quarantined", function()
    project.up(ID .. ":cleanup")
    local planted = ids.lookup("office", 1)
    db:exec([[INSERT INTO offices (id, code, name, created_at, updated_at) VALUES ($1, 'PLANTED', 'planted', now(), now())]],
      planted)
    project.up(ID .. ":offices")
    expect(db:value("SELECT code FROM offices WHERE id = $1::uuid", planted)):to_be("PLANTED")
    local q = copy.quarantine(db, "dispatch_offices")
    expect(#q):to_be(1)
    expect(q[1].source_key[1]):to_be(1)
    expect(q[1].error:match("^23505 duplicate key value violates unique constraint \"offices_pkey\"") ~= nil):to_be(true)
    expect(db:value "SELECT count(*) FROM offices"):to_be(weir.connection("legacy"):value "SELECT count(*) FROM dispatch_offices")
    project.down(ID)
  end)
end)
