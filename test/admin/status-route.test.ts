// GET /admin/v1/status and `stella telemetry status` show the forensic archive's usage per tenant and
// retention tier: a real gateway with the tee always on, real segments under a temp data dir.
import t from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256Hex } from '../../src/admin/auth.js';
import type { GatewayStatus } from '../../src/admin/status-route.js';
import { formatArchive } from '../../src/cli/commands/status.js';
import { forensicDir, segmentBaseName } from '../../src/tee/layout.js';
import { baseUrl, startTestGateway } from '../helpers/gateway.js';
import { runCli } from '../cli/commands/incident-run.js';

const span = JSON.stringify({
  resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 's', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }],
});

t.test('archive usage per tenant and tier, in the JSON, the CLI and scoped to a token', async (t) => {
  const gw = await startTestGateway([], (c) => {
    c.forensic.mode = 'always';
    c.incidents.adminTokens = [
      { name: 'viewer', sha256: sha256Hex('view'), role: 'viewer', tenants: '*' },
      { name: 'acme-only', sha256: sha256Hex('acme'), role: 'viewer', tenants: ['acme'] },
    ];
  });
  const root = gw.tee.root;
  t.equal(root, forensicDir({ dataDir: dirname(root), forensic: {} as never }), 'the default archive dir: DATA_DIR/forensic');
  const dataDir = dirname(root);
  t.teardown(async () => {
    await gw.stop(2000);
    rmSync(dataDir, { recursive: true, force: true });
  });
  // An older, sealed segment of another tenant in the forensic tier (as an incident would have left it).
  const old = join(root, 'acme', 'forensic');
  mkdirSync(old, { recursive: true });
  writeFileSync(join(old, `${segmentBaseName(1_764_400_000_000, 7)}.segz`), Buffer.alloc(1234));

  const res = await fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: span });
  t.equal(res.status, 200);
  await gw.tee.flush();

  const admin = baseUrl(gw, 'admin');
  const get = async (token: string) => {
    const r = await fetch(`${admin}/admin/v1/status`, { headers: { authorization: `Bearer ${token}` } });
    t.equal(r.status, 200);
    return ((await r.json()) as GatewayStatus).archive!;
  };
  const a = await get('view');
  t.equal(a.mode, 'always');
  t.equal(a.root, root);
  t.same(Object.keys(a.tenants).sort(), ['acme', 'default'], 'every tenant with segments');
  const live = a.tenants.default!.default!;
  t.equal(live.segments, 1, 'the anonymous tenant: one open segment in the default tier');
  t.equal(live.openSegments, 1);
  t.ok(live.bytes > 8, `its bytes on disk (${live.bytes})`);
  t.same(a.tenants.acme, { forensic: { bytes: 1234, segments: 1, openSegments: 0, oldestMs: 1_764_400_000_000, newestMs: a.tenants.acme!.forensic!.newestMs } }, 'acme: the sealed forensic-tier segment');
  t.equal(a.bytes, live.bytes + 1234, 'totals');
  t.equal(a.segments, 2);

  const scoped = await get('acme');
  t.same(Object.keys(scoped.tenants), ['acme'], 'a scoped token sees its tenants only');
  t.equal(scoped.bytes, 1234, 'and totals of those only');

  const human = await runCli(['status', '--admin', admin, '--token', 'view']);
  t.equal(human.code, 0, human.err);
  t.match(human.out, /^archive \(mode always, .+\): [\d.]+ (B|KiB) in 2 segments, budget 10\.0 GiB/m);
  t.match(human.out, /^ {2}acme forensic: 1\.2 KiB in 1 segments \(0 open\), oldest record 2025-11-29T07:06:40\.000Z$/m);
  t.match(human.out, /^ {2}default default: \d+ B in 1 segments \(1 open\)/m);
});

t.test('formatArchive: an empty archive, and a gateway that does not report one', async (t) => {
  t.same(formatArchive({ root: '/d/forensic', mode: 'incident', bytes: 0, segments: 0, tenants: {}, maxBytes: 1024 ** 3, bufferedBytes: 0 }), [
    'archive (mode incident, /d/forensic): 0 B in 0 segments, budget 1.0 GiB',
    '  (empty)',
  ]);
  t.same(formatArchive(null), ['archive: not reported']);
});
