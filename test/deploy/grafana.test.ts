// deploy/grafana: every dashboard is importable Grafana JSON, and every PromQL expression in it parses
// (promtool) and reads only metrics a running gateway exposes.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { packageRoot } from '../../src/paths.js';
import { baseUrl, startTestGateway } from '../helpers/gateway.js';
import { exposedNames, metricNames, promtool } from './promql.js';

const dir = join(packageRoot, 'deploy', 'grafana');
type Target = { expr: string; refId: string };
type Panel = { id: number; title: string; type: string; targets?: Target[]; datasource?: { uid: string } };
type Dashboard = { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] }; schemaVersion: number };
const dashboards = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, d: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Dashboard }));
const exprs = dashboards.flatMap(({ file, d }) => d.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ where: `${file} "${p.title}" ${x.refId}`, expr: x.expr }))));

/** Grafana's variables as Prometheus sees them after interpolation. */
const interpolate = (expr: string): string => expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'stella-gateway').replaceAll('$tenant', '.*');

t.test('the dashboards cover the operating areas and are importable as they are', async (t) => {
  const titles = dashboards.map(({ d }) => d.title).sort();
  t.same(titles, ['Stella / Export', 'Stella / Forensic archive', 'Stella / Ingestion', 'Stella / Policy', 'Stella / Sampling and incidents', 'Stella / Tenants']);
  const uids = new Set<string>();
  for (const { file, d } of dashboards) {
    t.ok(d.uid && !uids.has(d.uid), `${file}: a unique uid`);
    uids.add(d.uid);
    t.ok(d.schemaVersion >= 36, `${file}: a current schema`);
    // Importable without an __inputs prompt: the data source is a dashboard variable.
    t.ok(d.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'), `${file}: a datasource variable`);
    const ids = d.panels.map((p) => p.id);
    t.equal(new Set(ids).size, ids.length, `${file}: panel ids unique`);
    for (const p of d.panels) {
      t.ok((p.targets ?? []).length > 0, `${file} "${p.title}": has queries`);
      t.equal(p.datasource?.uid, '${datasource}', `${file} "${p.title}": uses the datasource variable`);
    }
  }
  t.ok(exprs.length >= 30);
});

t.test('every expression parses (promtool)', async (t) => {
  const rules = { groups: [{ name: 'dashboards', rules: exprs.map((e, i) => ({ record: `dashboard:expr${i}`, expr: interpolate(e.expr) })) }] };
  const file = join(mkdtempSync(join(tmpdir(), 'stella-grafana-')), 'exprs.yml');
  writeFileSync(file, stringify(rules));
  const r = promtool(['check', 'rules', file]);
  t.equal(r.status, 0, r.output);
});

t.test('every expression reads only metrics the gateway exposes', async (t) => {
  const gw = await startTestGateway([]);
  t.teardown(() => gw.stop(5000));
  const exposed = exposedNames(await (await fetch(`${baseUrl(gw, 'admin')}/metrics`)).text());
  for (const e of exprs) {
    const names = metricNames(interpolate(e.expr));
    t.ok(names.length > 0, `${e.where}: reads a metric`);
    for (const name of names) t.ok(exposed.has(name), `${e.where}: ${name} is exposed`);
  }
});
