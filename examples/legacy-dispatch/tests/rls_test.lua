-- Row-level security as the Supabase application reads the new tables: the rls phase on a
-- database with a few rows, then each query as the role `authenticated` with a user's claims
-- (the request.jwt.claims setting PostgREST sets; auth.uid() is weir's stand-in here, since
-- this database has no Supabase auth schema). (weir test, from the example directory.)
local ID = "001_legacy_dispatch"

-- Two offices; an admin, a staff member of each office, one without an office; a patient, an
-- order and a comment in each office; a soft-deleted order in office A.
local function rows()
  local u = {}
  for _, k in ipairs { "oa", "ob", "admin", "sa", "sb", "lone", "pa", "pb", "xa", "xb", "xdel", "ca", "cb" } do
    u[k] = db:value "SELECT gen_random_uuid()::text"
  end
  local function exec(sql, ...) db:exec(sql, ...) end
  exec("INSERT INTO offices (id, code, name, created_at, updated_at) VALUES ($1, 'A', 'A', now(), now()), ($2, 'B', 'B', now(), now())",
    u.oa, u.ob)
  exec "INSERT INTO products (id, sku, name, price, active, created_at, updated_at) VALUES (gen_random_uuid(), 'SKU-1', 'p', 1, true, now(), now())"
  exec([[INSERT INTO profiles (id, office_id, email, full_name, role, created_at, updated_at) VALUES
           ($1, $5, 'admin@x.example', 'Admin', 'admin', now(), now()), ($2, $5, 'sa@x.example', 'Staff A', 'staff', now(), now()),
           ($3, $6, 'sb@x.example', 'Staff B', 'staff', now(), now()), ($4, NULL, 'lone@x.example', 'Lone', 'staff', now(), now())]],
    u.admin, u.sa, u.sb, u.lone, u.oa, u.ob)
  exec([[INSERT INTO patients (id, office_id, first_name, last_name, date_of_birth, created_at, updated_at) VALUES
           ($1, $3, 'P', 'A', '1980-01-01', now(), now()), ($2, $4, 'P', 'B', '1980-01-01', now(), now())]], u.pa, u.pb, u.oa, u.ob)
  exec([[INSERT INTO orders (id, patient_id, office_id, status, amount, ordered_at, created_at, updated_at, deleted_at) VALUES
           ($1, $4, $6, 'pending', 1, now(), now(), now(), NULL), ($2, $5, $7, 'pending', 2, now(), now(), now(), NULL),
           ($3, $4, $6, 'pending', 3, now(), now(), now(), now())]], u.xa, u.xb, u.xdel, u.pa, u.pb, u.oa, u.ob)
  exec([[INSERT INTO comments (id, order_id, author_id, body, created_at, updated_at) VALUES
           ($1, $3, $5, 'on A', now(), now()), ($2, $4, $6, 'on B', now(), now())]], u.ca, u.cb, u.xa, u.xb, u.sa, u.sb)
  return u
end

-- fn runs as `authenticated` signed in as `uid`, in a transaction rolled back afterwards;
-- returns what fn returned
local function as(uid, fn)
  local result
  pcall(db.tx, db, function()
    db:exec "SET LOCAL ROLE authenticated"
    db:exec("SELECT set_config('request.jwt.claims', $1, true)", json.encode { sub = uid, role = "authenticated" })
    result = fn()
    error("rolled back")
  end)
  return result
end

-- the SQLSTATE a statement fails with (in a savepoint), or "ok"
local function outcome(sql, ...)
  local args = table.pack(...)
  local ok, e = pcall(db.tx, db, function() db:exec(sql, table.unpack(args, 1, args.n)) end)
  return ok and "ok" or (type(e) == "table" and e.sqlstate or tostring(e))
end

local function visible()
  local out = {}
  for _, t in ipairs { "offices", "products", "profiles", "patients", "orders", "comments" } do
    out[t] = db:value("SELECT count(*) FROM " .. t)
  end
  return out
end

describe("row-level security", function()
  it("staff see their office, admins the organization, soft-deleted rows nobody", function()
    project.up(ID .. ":rls")
    local u = rows()
    expect(as(u.sa, visible)):to_equal({ offices = 1, products = 1, profiles = 2, patients = 1, orders = 1, comments = 1 })
    expect(as(u.sb, function() return db:value "SELECT body FROM comments" end)):to_be("on B")
    expect(as(u.admin, visible)):to_equal({ offices = 2, products = 1, profiles = 4, patients = 2, orders = 2, comments = 2 })
    -- without an office: only the catalog and one's own profile
    expect(as(u.lone, visible)):to_equal({ offices = 0, products = 1, profiles = 1, patients = 0, orders = 0, comments = 0 })
    -- the owner (the migration) sees everything
    expect(db:value "SELECT count(*) FROM orders"):to_be(3)
  end)

  it("writes stay within one's office, one's comments, and one's own profile without its role", function()
    project.up(ID .. ":rls")
    local u = rows()
    expect(as(u.sa, function()
      return {
        own = outcome("INSERT INTO orders (id, patient_id, office_id, status, amount, ordered_at, created_at, updated_at) " ..
          "VALUES (gen_random_uuid(), $1, $2, 'pending', 5, now(), now(), now())", u.pa, u.oa),
        other = outcome("INSERT INTO orders (id, patient_id, office_id, status, amount, ordered_at, created_at, updated_at) " ..
          "VALUES (gen_random_uuid(), $1, $2, 'pending', 5, now(), now(), now())", u.pb, u.ob),
        move = outcome("UPDATE orders SET office_id = $1 WHERE id = $2", u.ob, u.xa),
        comment = outcome("INSERT INTO comments (id, order_id, author_id, body, created_at, updated_at) " ..
          "VALUES (gen_random_uuid(), $1, auth.uid(), 'mine', now(), now())", u.xa),
        comment_other_order = outcome("INSERT INTO comments (id, order_id, author_id, body, created_at, updated_at) " ..
          "VALUES (gen_random_uuid(), $1, auth.uid(), 'not mine', now(), now())", u.xb),
        name = outcome("UPDATE profiles SET full_name = 'Renamed' WHERE id = auth.uid()"),
        promote = outcome("UPDATE profiles SET role = 'admin' WHERE id = auth.uid()"),
        office = outcome("UPDATE profiles SET office_id = $1 WHERE id = auth.uid()", u.ob),
        catalog = outcome("UPDATE products SET price = 0"),
        delete_office = outcome("DELETE FROM offices"),
      }
    end)):to_equal({ own = "ok", other = "42501", move = "42501", comment = "ok", comment_other_order = "42501",
      name = "ok", promote = "42501", office = "42501", catalog = "42501", delete_office = "42501" })
    -- a role without a grant (anon, not signed in) reads nothing
    expect(outcome("SET LOCAL ROLE anon; SELECT count(*) FROM orders")):to_be("42501")
  end)

  it("down removes the policies, the helpers and the auth.uid() stand-in", function()
    project.up(ID .. ":rls")
    expect(db:value "SELECT obj_description('auth.uid()'::regprocedure, 'pg_proc')"):to_contain("stand-in for Supabase")
    project.down(ID .. ":rls")
    expect(db:value "SELECT count(*) FROM pg_policies"):to_be(0)
    expect(db:value "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relrowsecurity"):to_be(0)
    expect(db:value "SELECT to_regnamespace('auth')"):to_be_nil()
    expect(db:value "SELECT to_regprocedure('dispatch_office_id()')"):to_be_nil()
  end)
end)
