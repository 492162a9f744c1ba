// Schema inspection (see inspect.hpp). Each query returns one JSON array built by the server
// (json_agg … ORDER BY), so the C++ side only nests per-table lists into their tables.
#include "pg/inspect.hpp"

#include <cstring>
#include <initializer_list>
#include <map>
#include <regex>
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
                             || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
                    ORDER BY CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
                             || ':' || x.privilege_type
                             || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS grants
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
                         'grants', {grants(s.nspacl, s.nspowner, 'n')},
                         'comment', pg_catalog.obj_description(n.oid, 'pg_namespace'))
  FROM nsp n JOIN pg_catalog.pg_namespace s ON s.oid = n.oid ORDER BY n.nspname)"},

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
         'grants', {grants(t.typacl, t.typowner, 'T')},
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
         'grants', {grants(t.typacl, t.typowner, 'T')},
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
         'grants', {grants(t.typacl, t.typowner, 'T')},
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
         'inherits', coalesce((SELECT json_agg(json_build_object('schema', pn.nspname, 'name', pc.relname)
                                               ORDER BY i.inhseqno)
                                 FROM pg_catalog.pg_inherits i
                                 JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
                                 JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                                WHERE i.inhrelid = c.oid AND NOT c.relispartition), '[]'),
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
         'identity_sequence', CASE WHEN a.attidentity <> '' THEN pg_catalog.pg_get_serial_sequence(
                                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), a.attname) END,
         'collation', CASE WHEN a.attcollation <> t.typcollation
                           THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                                   FROM pg_catalog.pg_collation co
                                   JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                  WHERE co.oid = a.attcollation) END,
         'inherited', a.attinhcount > 0, 'local', a.attislocal,
         'grants', CASE WHEN a.attacl IS NULL THEN '[]'::json ELSE {grants(a.attacl, c.relowner, 'c')} END,
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
 WHERE c.relkind IN ('r', 'p') AND k.conparentid = 0 AND k.coninhcount = 0 AND k.contype <> 't'
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
         'partitions', CASE WHEN c.relkind = 'p' THEN coalesce(
                         (SELECT json_agg(json_build_object('schema', pn.nspname, 'table', pt.relname,
                                                            'name', pi.relname) ORDER BY pn.nspname, pt.relname)
                            FROM pg_catalog.pg_inherits i
                            JOIN pg_catalog.pg_class pi ON pi.oid = i.inhrelid
                            JOIN pg_catalog.pg_index px ON px.indexrelid = pi.oid
                            JOIN pg_catalog.pg_class pt ON pt.oid = px.indrelid
                            JOIN pg_catalog.pg_namespace pn ON pn.oid = pt.relnamespace
                           WHERE i.inhparent = x.indexrelid), '[]') ELSE '[]' END,
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
         'argument_types', pg_catalog.oidvectortypes(p.proargtypes),
         'kind', CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
         'returns', pg_catalog.pg_get_function_result(p.oid),
         'definition', pg_catalog.pg_get_functiondef(p.oid),
         'grants', {grants(p.proacl, p.proowner, 'f')},
         'comment', pg_catalog.obj_description(p.oid, 'pg_proc'))
  FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p')
   AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass)
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d      -- a range type's constructors belong to it
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
                      AND d.deptype = 'i')
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
 WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND c.relkind IN ('r', 'p', 'v')
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
    {"aggregates", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', p.proname,
         'arguments', pg_catalog.pg_get_function_identity_arguments(p.oid),
         'argument_types', pg_catalog.oidvectortypes(p.proargtypes),
         'definition',
           'CREATE AGGREGATE ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
           || '(' || CASE WHEN p.pronargs = 0 THEN '*' ELSE pg_catalog.pg_get_function_arguments(p.oid) END || ') ('
           || pg_catalog.concat_ws(', ',
                'SFUNC = ' || a.aggtransfn::pg_catalog.regproc::text,
                'STYPE = ' || pg_catalog.format_type(a.aggtranstype, NULL),
                CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END,
                CASE WHEN a.aggfinalfn <> 0 THEN 'FINALFUNC = ' || a.aggfinalfn::pg_catalog.regproc::text END,
                CASE WHEN a.aggfinalextra THEN 'FINALFUNC_EXTRA' END,
                CASE WHEN a.aggfinalfn <> 0 THEN 'FINALFUNC_MODIFY = '
                     || CASE a.aggfinalmodify WHEN 'r' THEN 'READ_ONLY' WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END END,
                CASE WHEN a.aggcombinefn <> 0 THEN 'COMBINEFUNC = ' || a.aggcombinefn::pg_catalog.regproc::text END,
                CASE WHEN a.aggserialfn <> 0 THEN 'SERIALFUNC = ' || a.aggserialfn::pg_catalog.regproc::text END,
                CASE WHEN a.aggdeserialfn <> 0 THEN 'DESERIALFUNC = ' || a.aggdeserialfn::pg_catalog.regproc::text END,
                CASE WHEN a.agginitval IS NOT NULL THEN 'INITCOND = ' || pg_catalog.quote_literal(a.agginitval) END,
                CASE WHEN a.aggmtransfn <> 0 THEN 'MSFUNC = ' || a.aggmtransfn::pg_catalog.regproc::text END,
                CASE WHEN a.aggminvtransfn <> 0 THEN 'MINVFUNC = ' || a.aggminvtransfn::pg_catalog.regproc::text END,
                CASE WHEN a.aggmtransfn <> 0 THEN 'MSTYPE = ' || pg_catalog.format_type(a.aggmtranstype, NULL) END,
                CASE WHEN a.aggmfinalfn <> 0 THEN 'MFINALFUNC = ' || a.aggmfinalfn::pg_catalog.regproc::text END,
                CASE WHEN a.aggmfinalextra THEN 'MFINALFUNC_EXTRA' END,
                CASE WHEN a.aggminitval IS NOT NULL THEN 'MINITCOND = ' || pg_catalog.quote_literal(a.aggminitval) END,
                CASE WHEN a.aggsortop <> 0 THEN 'SORTOP = OPERATOR(' || (SELECT pg_catalog.quote_ident(onp.nspname) || '.' || o.oprname
                                                                     FROM pg_catalog.pg_operator o
                                                                     JOIN pg_catalog.pg_namespace onp ON onp.oid = o.oprnamespace
                                                                    WHERE o.oid = a.aggsortop) || ')' END,
                CASE WHEN a.aggkind = 'h' THEN 'HYPOTHETICAL' END,
                'PARALLEL = ' || CASE p.proparallel WHEN 's' THEN 'SAFE' WHEN 'r' THEN 'RESTRICTED' ELSE 'UNSAFE' END)
           || ')',
         'grants', {grants(p.proacl, p.proowner, 'f')},
         'comment', pg_catalog.obj_description(p.oid, 'pg_proc'))
  FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
 WHERE p.prokind = 'a'
   AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass)
 ORDER BY n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes))"},

    {"collations", R"(
SELECT json_build_object(
         'schema', n.nspname, 'name', c.collname,
         'provider', CASE c.collprovider WHEN 'i' THEN 'icu' WHEN 'c' THEN 'libc' ELSE 'default' END,
         'locale', coalesce(pg_catalog.to_jsonb(c) ->> 'colliculocale', pg_catalog.to_jsonb(c) ->> 'colllocale'),
         'lc_collate', c.collcollate, 'lc_ctype', c.collctype,
         'deterministic', c.collisdeterministic,
         'comment', pg_catalog.obj_description(c.oid, 'pg_collation'))
  FROM pg_catalog.pg_collation c JOIN nsp n ON n.oid = c.collnamespace
 WHERE c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_collation'::pg_catalog.regclass)
 ORDER BY n.nspname, c.collname)"},

    {"default_privileges", R"(
SELECT json_build_object(
         'role', pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)),
         'schema', n.nspname,
         'object_type', CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                                             WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types'
                                             WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END,
         'grants', coalesce((SELECT json_agg(g ORDER BY g) FROM (
                      SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
                             || ':' || x.privilege_type
                             || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END AS g
                        FROM pg_catalog.aclexplode(d.defaclacl) x
                        LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.grantee) s), '[]'))
  FROM pg_catalog.pg_default_acl d
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
 WHERE d.defaclnamespace = 0 OR d.defaclnamespace IN (SELECT oid FROM nsp)
 ORDER BY pg_catalog.pg_get_userbyid(d.defaclrole), n.nspname NULLS FIRST, d.defaclobjtype)"},

    {"other_objects", R"(
SELECT x FROM (
  SELECT 'rule ' || pg_catalog.quote_ident(r.rulename) || ' on ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
    FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN nsp n ON n.oid = c.relnamespace
   WHERE r.rulename <> '_RETURN'
  UNION ALL
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0)
    FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
   WHERE c.relkind = 'f'
     AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
  UNION ALL
  SELECT pg_catalog.pg_describe_object(o.classid, o.objid, 0)
    FROM (SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, s.oid, s.stxnamespace FROM pg_catalog.pg_statistic_ext s
          UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprnamespace FROM pg_catalog.pg_operator o
          UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, o.oid, o.opcnamespace FROM pg_catalog.pg_opclass o
          UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, o.oid, o.opfnamespace FROM pg_catalog.pg_opfamily o
          UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, o.oid, o.cfgnamespace FROM pg_catalog.pg_ts_config o
          UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, o.oid, o.dictnamespace FROM pg_catalog.pg_ts_dict o
          UNION ALL SELECT 'pg_catalog.pg_ts_parser'::pg_catalog.regclass, o.oid, o.prsnamespace FROM pg_catalog.pg_ts_parser o
          UNION ALL SELECT 'pg_catalog.pg_ts_template'::pg_catalog.regclass, o.oid, o.tmplnamespace FROM pg_catalog.pg_ts_template o
          UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, o.oid, o.connamespace FROM pg_catalog.pg_conversion o
          UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.pronamespace FROM pg_catalog.pg_proc p WHERE p.prokind = 'w'
          UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typnamespace FROM pg_catalog.pg_type t
                     WHERE t.typtype IN ('b', 'r', 'p') AND (t.typelem = 0 OR t.typcategory <> 'A')
         ) AS o(classid, objid, nsp)
    JOIN nsp n ON n.oid = o.nsp
   WHERE (o.classid, o.objid) NOT IN (SELECT classid, objid FROM ext)
  UNION ALL
  SELECT pg_catalog.pg_describe_object(o.classid, o.objid, 0)
    FROM (SELECT 'pg_catalog.pg_event_trigger'::pg_catalog.regclass, e.oid FROM pg_catalog.pg_event_trigger e
          UNION ALL SELECT 'pg_catalog.pg_publication'::pg_catalog.regclass, p.oid FROM pg_catalog.pg_publication p
          UNION ALL SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass, s.oid FROM pg_catalog.pg_foreign_server s
          UNION ALL SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass, w.oid FROM pg_catalog.pg_foreign_data_wrapper w
          UNION ALL SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, l.oid FROM pg_catalog.pg_language l
                     WHERE l.lanispl AND l.lanname <> 'plpgsql'
          UNION ALL SELECT 'pg_catalog.pg_transform'::pg_catalog.regclass, t.oid FROM pg_catalog.pg_transform t
          UNION ALL SELECT 'pg_catalog.pg_cast'::pg_catalog.regclass, c.oid FROM pg_catalog.pg_cast c WHERE c.oid >= 16384
         ) AS o(classid, objid)
   WHERE (o.classid, o.objid) NOT IN (SELECT classid, objid FROM ext)
) AS s(x) ORDER BY 1)"},
};

// The graph of dependencies between the model's objects and their parts, from pg_depend: an
// object {"column:public.t.c": ["type:public.mood", …], …}. Keys name what the diff creates
// and drops: extension:E, type:S.N (enums, domains, composites), collation:S.N,
// sequence:S.N, table:S.N, column:S.T.C, view:S.N, index:S.T.I, constraint:S.T.C,
// trigger:S.T.N, policy:S.T.N, function:S.N(ARGUMENT TYPES) (aggregates too). A table's row
// type is the table; an array type is its element type; an extension's members are the
// extension. Schemas are left out (the diff creates them first and drops them last anyway),
// so a part that uses nothing else has no entry. Not read for display models.
const char* const kDependencies = R"(
  rel AS (
    SELECT c.oid, c.relkind, n.nspname, c.relname,
           CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 'table:' WHEN c.relkind IN ('v', 'm') THEN 'view:'
                WHEN c.relkind = 'S' THEN 'sequence:' WHEN c.relkind = 'c' THEN 'type:' END
           || n.nspname || '.' || c.relname AS key
      FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'c')
       AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
  ),
  att AS (
    SELECT a.attrelid, a.attnum,
           CASE WHEN k.relkind IN ('r', 'p') THEN 'column:' || k.nspname || '.' || k.relname || '.' || a.attname
                ELSE k.key END AS key
      FROM pg_catalog.pg_attribute a JOIN rel k ON k.oid = a.attrelid
     WHERE a.attnum > 0 AND k.relkind <> 'S'
  ),
  typ AS (
    SELECT t.oid, coalesce(r.key, 'type:' || n.nspname || '.' || t.typname) AS key
      FROM pg_catalog.pg_type t JOIN nsp n ON n.oid = t.typnamespace
      LEFT JOIN rel r ON r.oid = t.typrelid
     WHERE t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_type'::pg_catalog.regclass)
       AND (t.typelem = 0 OR t.typcategory <> 'A')
  ),
  fn AS (
    SELECT p.oid, 'function:' || n.nspname || '.' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS key
      FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace
     WHERE p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass)
  ),
  idx AS (
    SELECT x.indexrelid AS oid, 'index:' || t.nspname || '.' || t.relname || '.' || ic.relname AS key
      FROM pg_catalog.pg_index x JOIN rel t ON t.oid = x.indrelid
      JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
  ),
  -- what a pg_depend row may point at
  rk(classid, objid, subid, key) AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, oid, 0, key FROM rel
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, attrelid, attnum, key FROM att
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, oid, 0, key FROM idx
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid, 0, key FROM typ
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, a.oid, 0, e.key
                FROM pg_catalog.pg_type a JOIN typ e ON e.oid = a.typelem
               WHERE a.typcategory = 'A'
    UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, 0, key FROM fn
    UNION ALL SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, oid, 0, 'extension:' || extname
                FROM pg_catalog.pg_extension
    UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, c.oid, 0, 'collation:' || n.nspname || '.' || c.collname
                FROM pg_catalog.pg_collation c JOIN nsp n ON n.oid = c.collnamespace
               WHERE c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.pg_collation'::pg_catalog.regclass)
    UNION ALL SELECT d.classid, d.objid, 0, 'extension:' || e.extname
                FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
               WHERE d.deptype = 'e' AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
  ),
  -- what depends: the parts the diff creates and drops
  dk(classid, objid, subid, key) AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, oid, 0, key FROM rel WHERE relkind <> 'S'
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, attrelid, attnum, key FROM att
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, oid, 0, key FROM idx
    UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid, 0, a.key
                FROM pg_catalog.pg_attrdef d JOIN att a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid, 0,
                     coalesce('constraint:' || r.nspname || '.' || r.relname || '.' || k.conname, t.key)
                FROM pg_catalog.pg_constraint k LEFT JOIN rel r ON r.oid = k.conrelid
                LEFT JOIN typ t ON t.oid = k.contypid
               WHERE r.oid IS NOT NULL OR t.oid IS NOT NULL
    UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, g.oid, 0,
                     'trigger:' || r.nspname || '.' || r.relname || '.' || g.tgname
                FROM pg_catalog.pg_trigger g JOIN rel r ON r.oid = g.tgrelid WHERE NOT g.tgisinternal
    UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, 0,
                     'policy:' || r.nspname || '.' || r.relname || '.' || p.polname
                FROM pg_catalog.pg_policy p JOIN rel r ON r.oid = p.polrelid
    UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, w.oid, 0, r.key
                FROM pg_catalog.pg_rewrite w JOIN rel r ON r.oid = w.ev_class WHERE r.relkind IN ('v', 'm')
    UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, 0, key FROM fn
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0, y.key
                FROM pg_catalog.pg_type t JOIN typ y ON y.oid = t.oid WHERE t.typtype IN ('d', 'e', 'r')
  ))";

const char* const kDependencyQuery = R"(
SELECT coalesce(json_object_agg(key, ons ORDER BY key), '{}')
  FROM (SELECT f.key, json_agg(DISTINCT r.key ORDER BY r.key) AS ons
          FROM pg_catalog.pg_depend d
          JOIN dk f ON f.classid = d.classid AND f.objid = d.objid AND f.subid = d.objsubid
          JOIN rk r ON r.classid = d.refclassid AND r.objid = d.refobjid AND r.subid = d.refobjsubid
         WHERE d.deptype IN ('n', 'a') AND f.key <> r.key
         GROUP BY f.key) s)";

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
    std::string kind = into;
    if (v[into].empty() && kind != "indexes" && kind != "triggers") v.erase(into);
  }
}

}  // namespace

const std::vector<std::string>& model_sections() {
  static const std::vector<std::string> sections = {
      "schemas",    "extensions",         "collations",    "enums",       "domains",
      "composites", "sequences",          "tables",        "views",       "functions",
      "aggregates", "default_privileges", "other_objects", "dependencies"};
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

// {grants(ACL, OWNER, 'K')} in a query: the privileges in ACL (or, when NULL, the built-in
// default for object kind K) held by others than OWNER, as a sorted JSON list of
// "GRANTEE:PRIVILEGE" ("… WITH GRANT OPTION" when it may be passed on).
std::string expand_grants(const std::string& sql) {
  static const std::regex grants(R"(\{grants\(([^,]+), ([^,]+), '(\w)'\)\})");
  return std::regex_replace(
      sql, grants,
      "coalesce((SELECT json_agg(g ORDER BY g) FROM (SELECT DISTINCT CASE WHEN x.grantee = 0 "
      "THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END || ':' || x.privilege_type || "
      "CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END AS g FROM "
      "pg_catalog.aclexplode(coalesce($1, pg_catalog.acldefault('$3', $2))) x LEFT JOIN "
      "pg_catalog.pg_roles r ON r.oid = x.grantee WHERE x.grantee <> $2) gs), '[]')");
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
      std::string body = expand_grants(options.display ? pretty_printed(q.sql) : q.sql);
      std::string sql =
          "WITH" + ctes + "\nSELECT coalesce(json_agg(x), '[]') FROM (" + body + "\n) AS s(x)";
      Result r = conn.exec(sql);
      model[q.section] = json::parse(r.value(0, 0));
    }
    if (!options.display) {
      Result r = conn.exec("WITH" + ctes + "," + kDependencies + kDependencyQuery);
      model["dependencies"] = json::parse(r.value(0, 0));
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
