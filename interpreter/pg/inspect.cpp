// Schema inspection (see inspect.hpp). Each query returns one JSON array built by the server
// (json_agg … ORDER BY), so the C++ side only nests per-table lists into their tables.
#include "pg/inspect.hpp"

#include <cstring>
#include <initializer_list>
#include <map>
#include <utility>

#include "pg/connection.hpp"

namespace weir::pg {

namespace {

using nlohmann::json;

// The CTEs every query may use: `nsp`, the inspected schemas (user schemas, not
// extension-owned; {filter} is replaced by the options' conditions), `ext`, extension members,
// and `acl`, relation privileges.
const char* const kNamespaces = R"(
  nsp AS (
    SELECT n.oid, n.nspname
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                          AND d.objid = n.oid AND d.deptype = 'e')
       {filter}
  ),
  -- objects that belong to an extension: created and dropped with it, never diffed
  ext AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE d.deptype = 'e'
  ),
  -- privileges on tables, views and sequences other than their owner's, as GRANTEE:PRIVILEGE
  acl AS (
    SELECT c.oid,
           json_agg(DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
                             || ':' || x.privilege_type
                    ORDER BY CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
                             || ':' || x.privilege_type) AS grants
      FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
     CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) x
      LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.grantee
     WHERE x.grantee <> c.relowner
     GROUP BY c.oid
  ))";

struct Query {
  const char* section;
  const char* sql;  // a SELECT of one json value; may use the CTEs nsp and ext
};

const Query kQueries[] = {
    {"schemas", R"(
SELECT json_build_object('name', n.nspname,
                         'comment', pg_catalog.obj_description(n.oid, 'pg_namespace'))
  FROM nsp n ORDER BY n.nspname)"},

    {"extensions", R"(
SELECT json_build_object('name', e.extname, 'schema', n.nspname, 'version', e.extversion)
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname <> 'plpgsql'
 ORDER BY e.extname)"},

    {"enums", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', t.typname,
         'values', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
                      FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid),
         'comment', pg_catalog.obj_description(t.oid, 'pg_type'))
  FROM pg_catalog.pg_type t JOIN nsp n ON n.oid = t.typnamespace
 WHERE t.typtype = 'e'
   AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_type'::pg_catalog.regclass)
 ORDER BY n.nspname, t.typname)"},

    {"domains", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', t.typname,
         'type', pg_catalog.format_type(t.typbasetype, t.typtypmod),
         'default', t.typdefault, 'not_null', t.typnotnull,
         'collation', CASE WHEN t.typcollation <> b.typcollation
                           THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                                   FROM pg_catalog.pg_collation co
                                   JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                  WHERE co.oid = t.typcollation) END,
         'checks', coalesce((SELECT json_agg(json_build_object(
                                      'name', c.conname,
                                      'definition', pg_catalog.pg_get_constraintdef(c.oid),
                                      'validated', c.convalidated) ORDER BY c.conname)
                               FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid), '[]'),
         'comment', pg_catalog.obj_description(t.oid, 'pg_type'))
  FROM pg_catalog.pg_type t JOIN nsp n ON n.oid = t.typnamespace
  JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
 WHERE t.typtype = 'd'
   AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_type'::pg_catalog.regclass)
 ORDER BY n.nspname, t.typname)"},

    {"composites", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', t.typname,
         'attributes', (SELECT json_agg(json_build_object(
                                  'name', a.attname,
                                  'type', pg_catalog.format_type(a.atttypid, a.atttypmod))
                                ORDER BY a.attnum)
                          FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
         'comment', pg_catalog.obj_description(t.oid, 'pg_type'))
  FROM pg_catalog.pg_type t JOIN nsp n ON n.oid = t.typnamespace
  JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
 WHERE t.typtype = 'c' AND c.relkind = 'c'
   AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_type'::pg_catalog.regclass)
 ORDER BY n.nspname, t.typname)"},

    {"sequences", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', c.relname,
         'type', pg_catalog.format_type(s.seqtypid, NULL),
         'start', s.seqstart, 'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
         'cache', s.seqcache, 'cycle', s.seqcycle,
         'owned_by', (SELECT json_build_object('schema', tn.nspname, 'table', tc.relname,
                                               'column', a.attname)
                        FROM pg_catalog.pg_depend d
                        JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
                        JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                       WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                         AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                         AND d.deptype = 'a'),
         'grants', coalesce((SELECT acl.grants FROM acl WHERE acl.oid = c.oid), '[]'),
         'comment', pg_catalog.obj_description(c.oid, 'pg_class'))
  FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  JOIN nsp n ON n.oid = c.relnamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d      -- identity sequences belong to their column
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                      AND d.deptype = 'i')
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
 ORDER BY n.nspname, c.relname)"},

    {"tables", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', c.relname,
         'kind', CASE c.relkind WHEN 'p' THEN 'partitioned' ELSE 'table' END,
         'unlogged', c.relpersistence = 'u',
         'partition_key', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
         'partition_of', (SELECT json_build_object('schema', pn.nspname, 'name', pc.relname)
                            FROM pg_catalog.pg_inherits i
                            JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
                            JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                           WHERE i.inhrelid = c.oid AND c.relispartition),
         'partition_bound', CASE WHEN c.relispartition
                                 THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
         'rls', c.relrowsecurity, 'rls_forced', c.relforcerowsecurity,
         'options', coalesce(pg_catalog.to_json(c.reloptions), '[]'),
         'grants', coalesce((SELECT acl.grants FROM acl WHERE acl.oid = c.oid), '[]'),
         'comment', pg_catalog.obj_description(c.oid, 'pg_class'))
  FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
 ORDER BY n.nspname, c.relname)"},

    {"columns", R"(
SELECT json_build_object(
         'schema', n.nspname, 'table', c.relname, 'name', a.attname,
         'position', pg_catalog.row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
         'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
         'not_null', a.attnotnull,
         'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
         'generated', CASE WHEN a.attgenerated = 's' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
         'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
         'collation', CASE WHEN a.attcollation <> t.typcollation
                           THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                                   FROM pg_catalog.pg_collation co
                                   JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                  WHERE co.oid = a.attcollation) END,
         'inherited', NOT a.attislocal,
         'comment', pg_catalog.col_description(c.oid, a.attnum))
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN nsp n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
 ORDER BY n.nspname, c.relname, a.attnum)"},

    {"constraints", R"(
SELECT json_build_object(
         'schema', n.nspname, 'table', c.relname, 'name', k.conname,
         'type', CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                                WHEN 'c' THEN 'check' WHEN 'f' THEN 'foreign key'
                                WHEN 'x' THEN 'exclusion' ELSE k.contype::text END,
         'definition', pg_catalog.pg_get_constraintdef(k.oid),
         'validated', k.convalidated, 'deferrable', k.condeferrable, 'deferred', k.condeferred,
         'references', CASE WHEN k.contype = 'f' THEN
                         (SELECT json_build_object('schema', rn.nspname, 'name', rc.relname)
                            FROM pg_catalog.pg_class rc
                            JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
                           WHERE rc.oid = k.confrelid) END,
         'comment', pg_catalog.obj_description(k.oid, 'pg_constraint'))
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN nsp n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND k.conparentid = 0 AND k.coninhcount = 0
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
 ORDER BY n.nspname, c.relname, k.conname)"},

    {"indexes", R"(
SELECT json_build_object(
         'schema', n.nspname, 'table', c.relname, 'name', ic.relname,
         'definition', pg_catalog.pg_get_indexdef(x.indexrelid),
         'unique', x.indisunique, 'primary', x.indisprimary, 'valid', x.indisvalid,
         'constraint', (SELECT k.conname FROM pg_catalog.pg_constraint k
                         WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid
                           AND k.contype IN ('p', 'u', 'x')),
         'comment', pg_catalog.obj_description(x.indexrelid, 'pg_class'))
  FROM pg_catalog.pg_index x
  JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
  JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
  JOIN nsp n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = x.indexrelid)
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
 ORDER BY n.nspname, c.relname, ic.relname)"},

    {"views", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', c.relname, 'materialized', c.relkind = 'm',
         'definition', pg_catalog.pg_get_viewdef(c.oid),
         'options', coalesce(pg_catalog.to_json(c.reloptions), '[]'),
         'depends_on', coalesce((SELECT json_agg(DISTINCT pg_catalog.quote_ident(dn.nspname) || '.' || pg_catalog.quote_ident(dc.relname))
                                   FROM pg_catalog.pg_rewrite rw
                                   JOIN pg_catalog.pg_depend d ON d.objid = rw.oid
                                    AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                                    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                   JOIN pg_catalog.pg_class dc ON dc.oid = d.refobjid
                                   JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
                                  WHERE rw.ev_class = c.oid AND d.refobjid <> c.oid), '[]'),
         'grants', coalesce((SELECT acl.grants FROM acl WHERE acl.oid = c.oid), '[]'),
         'comment', pg_catalog.obj_description(c.oid, 'pg_class'))
  FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm')
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
 ORDER BY n.nspname, c.relname)"},

    {"functions", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', p.proname,
         'arguments', pg_catalog.pg_get_function_identity_arguments(p.oid),
         'kind', CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
         'returns', pg_catalog.pg_get_function_result(p.oid),
         'definition', pg_catalog.pg_get_functiondef(p.oid),
         'comment', pg_catalog.obj_description(p.oid, 'pg_proc'))
  FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p')
   AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass)
 ORDER BY n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))"},

    {"triggers", R"(
SELECT json_build_object(
         'schema', n.nspname, 'table', c.relname, 'name', t.tgname,
         'definition', pg_catalog.pg_get_triggerdef(t.oid),
         'enabled', CASE t.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica'
                                     WHEN 'A' THEN 'always' ELSE 'origin' END,
         'comment', pg_catalog.obj_description(t.oid, 'pg_trigger'))
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
  JOIN nsp n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND c.relkind IN ('r', 'p')
 ORDER BY n.nspname, c.relname, t.tgname)"},

    {"policies", R"(
SELECT json_build_object(
         'schema', n.nspname, 'table', c.relname, 'name', p.polname,
         'permissive', p.polpermissive,
         'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                  WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
         'roles', (SELECT json_agg(CASE WHEN r.oid = 0 THEN 'PUBLIC'
                                        ELSE pg_catalog.quote_ident(ro.rolname) END ORDER BY 1)
                     FROM pg_catalog.unnest(p.polroles) AS r(oid)
                     LEFT JOIN pg_catalog.pg_roles ro ON ro.oid = r.oid),
         'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
         'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN nsp n ON n.oid = c.relnamespace
 ORDER BY n.nspname, c.relname, p.polname)"},
};

std::string literal_list(Connection& conn, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + conn.quote_literal(n);
  return out;
}

// Moves the per-table lists (columns, constraints, …) into their tables and views.
void nest(json& model, const char* section, const char* into) {
  std::map<std::pair<std::string, std::string>, json*> owners;
  for (const char* kind : {"tables", "views"}) {
    for (auto& t : model[kind]) {
      t[into] = json::array();
      owners[{t["schema"].get<std::string>(), t["name"].get<std::string>()}] = &t;
    }
  }
  for (auto& item : model[section]) {
    auto it = owners.find({item["schema"].get<std::string>(), item["table"].get<std::string>()});
    if (it == owners.end()) continue;
    item.erase("schema");
    item.erase("table");
    (*it->second)[into].push_back(std::move(item));
  }
  model.erase(section);
  for (auto& v : model["views"]) {
    if (v[into].empty() && std::string(into) != "indexes") v.erase(into);
  }
}

}  // namespace

const std::vector<std::string>& model_sections() {
  static const std::vector<std::string> sections = {"schemas", "extensions", "enums",
                                                    "domains", "composites", "sequences",
                                                    "tables",  "views",      "functions"};
  return sections;
}

// `sql` with `extra` added to the arguments of every call to one of `functions` whose
// arguments hold no parentheses and do not start with `skip`.
std::string add_arguments(const std::string& sql, std::initializer_list<const char*> functions,
                          const char* extra, const char* skip = nullptr) {
  std::string out;
  size_t copied = 0;
  for (size_t p = 0; p < sql.size(); ++p) {
    for (const char* fn : functions) {
      size_t n = std::strlen(fn);
      if (sql.compare(p, n, fn) != 0 || p + n >= sql.size() || sql[p + n] != '(') continue;
      size_t args = p + n + 1;
      if (skip && sql.compare(args, std::strlen(skip), skip) == 0) break;
      size_t close = sql.find_first_of("()", args);
      if (close == std::string::npos || sql[close] != ')') break;
      out.append(sql, copied, close - copied);
      out += extra;
      copied = close;
      p = close;
      break;
    }
  }
  return out + sql.substr(copied);
}

// The query with each pg_get_*def / pg_get_expr call asking for PostgreSQL's pretty form —
// except policy expressions, which psql shows in the plain form.
std::string pretty_printed(const std::string& sql) {
  std::string out = add_arguments(
      sql, {"pg_get_constraintdef", "pg_get_triggerdef", "pg_get_viewdef", "pg_get_expr"}, ", true",
      "p.pol");
  return add_arguments(out, {"pg_get_indexdef"}, ", 0, true");
}

json inspect(Connection& conn, const InspectOptions& options) {
  std::string filter;
  if (!options.schemas.empty())
    filter += " AND n.nspname IN (" + literal_list(conn, options.schemas) + ")";
  if (!options.exclude_schemas.empty())
    filter += " AND n.nspname NOT IN (" + literal_list(conn, options.exclude_schemas) + ")";
  std::string ctes = kNamespaces;
  ctes.replace(ctes.find("{filter}"), 8, filter);

  // Qualified names in every definition: run with search_path = pg_catalog, in a snapshot.
  bool own_tx = !conn.in_transaction();
  conn.exec(own_tx ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "SAVEPOINT weir_inspect");
  json model = json::object();
  try {
    // work_mem: the sorts of large catalogs (10k columns) would otherwise spill to disk.
    conn.exec(
        std::string("SELECT ") +
        (!options.display ? "pg_catalog.set_config('search_path', 'pg_catalog', true), " : "") +
        "pg_catalog.set_config('work_mem', '64MB', true)");
    for (const Query& q : kQueries) {
      std::string body = options.display ? pretty_printed(q.sql) : q.sql;
      std::string sql =
          "WITH" + ctes + "\nSELECT coalesce(json_agg(x), '[]') FROM (" + body + "\n) AS s(x)";
      Result r = conn.exec(sql);
      model[q.section] = json::parse(r.value(0, 0));
    }
  } catch (const std::exception&) {
    conn.exec(own_tx ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT weir_inspect");
    if (!own_tx) conn.exec("RELEASE SAVEPOINT weir_inspect");
    throw;
  }
  conn.exec(own_tx ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT weir_inspect");
  if (!own_tx) conn.exec("RELEASE SAVEPOINT weir_inspect");

  nest(model, "columns", "columns");
  nest(model, "constraints", "constraints");
  nest(model, "indexes", "indexes");
  nest(model, "triggers", "triggers");
  nest(model, "policies", "policies");
  return model;
}

}  // namespace weir::pg
