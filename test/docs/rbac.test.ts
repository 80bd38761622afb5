// docs/reference/rbac.md against the code, both ways: every cell of its matrix is checked by sending the
// row's request with a token of the column's role and scope to a running gateway (allow: not 401/403;
// deny: 403; open: answered without a token), and every route the admin listener registers in
// src/admin/ must have a row (and every row must name a registered route).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../src/admin/auth.js';
import type { AdminRole } from '../../src/admin/auth-types.js';
import { packageRoot } from '../../src/paths.js';
import { baseUrl, startTestGateway } from '../helpers/gateway.js';

interface Row {
  action: string;
  method: string;
  path: string;
  body?: string;
  cells: string[];
}

const doc = readFileSync(join(packageRoot, 'docs/reference/rbac.md'), 'utf8');
const lines = doc.split('\n').filter((l) => l.startsWith('|'));
const header = lines[0]!.split('|').slice(1, -1).map((c) => c.trim());
const columns = header.slice(2).map((c) => {
  const m = /^(viewer|operator|admin) \((acme|\*)\)$/.exec(c);
  if (!m) throw new Error(`rbac.md: unexpected column ${JSON.stringify(c)}`);
  return { label: c, role: m[1] as AdminRole, tenants: m[2] === '*' ? ('*' as const) : ['acme'] };
});
const rows: Row[] = lines.slice(2).map((l) => {
  const cells = l.split('|').slice(1, -1).map((c) => c.trim());
  const request = /^`(GET|POST|DELETE|PUT|PATCH) (\S+)(?: (\{.*\}))?`$/.exec(cells[1]!);
  if (!request) throw new Error(`rbac.md: cannot read the request of ${JSON.stringify(cells[0])}: ${cells[1]}`);
  return { action: cells[0]!, method: request[1]!, path: request[2]!, ...(request[3] && { body: request[3] }), cells: cells.slice(2) };
});

/** Routes registered in src/admin/*.ts: `.get(`/`.post(`/… with a literal, a *_PATH constant or a template of one. */
function codeRoutes(): { method: string; pattern: string }[] {
  const dir = join(packageRoot, 'src/admin');
  const constants = new Map<string, string>();
  const sources = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(dir, f), 'utf8'));
  for (const s of sources) for (const m of s.matchAll(/export const (\w+_PATH) = '([^']+)'/g)) constants.set(m[1]!, m[2]!);
  const out: { method: string; pattern: string }[] = [];
  for (const s of sources) {
    for (const m of s.matchAll(/\.(get|post|delete|put|patch)(?:<[^(]*>)?\(\s*('[^']*'|`[^`]*`|\w+_PATH)\s*,/g)) {
      let p = m[2]!;
      if (p.startsWith("'")) p = p.slice(1, -1);
      else if (p.startsWith('`')) p = p.slice(1, -1).replace(/\$\{(\w+)\}/g, (_, name: string) => constants.get(name) ?? `<${name}>`);
      else p = constants.get(p) ?? `<${p}>`;
      out.push({ method: m[1]!.toUpperCase(), pattern: p });
    }
  }
  return out;
}

const matches = (pattern: string, path: string) => new RegExp(`^${pattern.replace(/:[A-Za-z]+/g, '[^/]+')}$`).test(path);

t.test('every admin route has a row, and every row names a route', async (t) => {
  const routes = codeRoutes();
  t.ok(routes.length >= 6, `routes found in src/admin: ${routes.map((r) => `${r.method} ${r.pattern}`).join(', ')}`);
  for (const r of routes) t.ok(rows.some((row) => row.method === r.method && matches(r.pattern, row.path)), `${r.method} ${r.pattern} is in rbac.md`);
  for (const row of rows) t.ok(routes.some((r) => r.method === row.method && matches(r.pattern, row.path)), `rbac.md row "${row.action}" names a route of the code`);
});

t.test('every cell of the matrix is what the gateway answers', async (t) => {
  const tokens = columns.map((c, i) => ({ name: `t${i}`, token: `token-${i}-${c.role}`, ...c }));
  const gw = await startTestGateway([], (c) => {
    c.admin.metricsAuth = 'always';
    c.incidents.adminTokens = tokens.map((k) => ({ name: k.name, sha256: sha256Hex(k.token), role: k.role, tenants: k.tenants }));
  });
  t.teardown(() => gw.stop(2000));
  const admin = baseUrl(gw, 'admin');
  for (const row of rows) {
    t.equal(row.cells.length, columns.length, `${row.action}: one cell per column`);
    for (const [i, cell] of row.cells.entries()) {
      const expected = cell.split(' ')[0];
      t.ok(['allow', 'deny', 'open'].includes(expected!), `${row.action} / ${columns[i]!.label}: cell ${JSON.stringify(cell)}`);
      const headers: Record<string, string> = expected === 'open' ? {} : { authorization: `Bearer ${tokens[i]!.token}` };
      if (row.body) headers['content-type'] = 'application/json';
      const res = await fetch(`${admin}${row.path}`, { method: row.method, headers, ...(row.body && { body: row.body }) });
      await res.arrayBuffer();
      const what = `${row.method} ${row.path} as ${columns[i]!.label} → ${res.status} (rbac.md: ${expected})`;
      if (expected === 'deny') t.equal(res.status, 403, what);
      else t.ok(res.status !== 401 && res.status !== 403, what);
    }
  }
});
