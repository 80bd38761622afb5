// The kit's tools/import-grafana.mjs, run as a process against an HTTP server standing in for Grafana's
// dashboard API: every dashboard is posted with the token and overwrite; a refused one is named and the
// exit code is 1; without GRAFANA_URL/GRAFANA_TOKEN it explains and exits 2.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grafanaImportTool } from '../../src/kit/kit-texts.js';

function runTool(tool: string, dir: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base.GRAFANA_URL;
    delete base.GRAFANA_TOKEN;
    const c = spawn(process.execPath, [tool, dir], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.once('error', reject);
    c.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('import-grafana posts every dashboard and names a refused one', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'stella-kit-grafana-'));
  const tool = join(base, 'import-grafana.mjs');
  writeFileSync(tool, grafanaImportTool());
  const dir = join(base, 'dashboards');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.json'), JSON.stringify({ id: 7, uid: 'a', title: 'A' }));
  writeFileSync(join(dir, 'b.json'), JSON.stringify({ uid: 'b', title: 'B' }));
  writeFileSync(join(dir, 'notes.txt'), 'not a dashboard');

  const received: { path: string; auth: string | undefined; body: { dashboard: Record<string, unknown>; overwrite: boolean } }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      received.push({ path: req.url ?? '', auth: req.headers.authorization, body });
      if (body.dashboard.uid === 'b') {
        res.writeHead(412, { 'content-type': 'application/json' }).end('{"message":"version-mismatch"}');
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const r = await runTool(tool, dir, { GRAFANA_URL: url, GRAFANA_TOKEN: 'tok' });
  t.equal(r.code, 1);
  t.equal(r.stdout, 'imported a.json\n');
  t.match(r.stderr, /^import-grafana: b\.json: HTTP 412 \{"message":"version-mismatch"\}/);
  t.same(received.map((x) => [x.path, x.auth, x.body.overwrite, x.body.dashboard.uid, 'id' in x.body.dashboard]), [
    ['/api/dashboards/db', 'Bearer tok', true, 'a', false],
    ['/api/dashboards/db', 'Bearer tok', true, 'b', false],
  ]);

  const missing = await runTool(tool, dir, {});
  t.equal(missing.code, 2);
  t.match(missing.stderr, /set GRAFANA_URL and GRAFANA_TOKEN/);
});
