// The forensic CLI as an operator runs it: keys init, capture, verify (ok and each failure with its own
// message and a non-zero exit), replay into an OTLP sink.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';
import { SIGNALS } from '../../../src/signals.js';
import { readTar, writeTar } from '../../../src/tee/tar.js';
import { flattenRequests } from '../../helpers/flatten.js';
import { startOtlpSink } from '../../helpers/otlp-sink.js';
import { makeArchive, T0 } from '../../tee/bundle-archive.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function runAsync(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, 'telemetry', ...args]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const archive = makeArchive();
const keys = join(archive.dataDir, 'keys');
const otherKeys = join(archive.dataDir, 'other-keys');
const from = new Date(T0).toISOString();
const to = new Date(T0 + 60_000).toISOString();
const tar = join(archive.dataDir, 'capture.tar');

t.test('keys init writes a private key with mode 0600 and refuses to overwrite', async (t) => {
  const r = run(['keys', 'init', '--out', keys]);
  t.equal(r.code, 0, r.err);
  t.equal(statSync(join(keys, 'signing-key.pem')).mode & 0o777, 0o600);
  t.match(readFileSync(join(keys, 'signing-key.pub.pem'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  const again = run(['keys', 'init', '--out', keys]);
  t.equal(again.code, 1);
  t.match(again.err, /already exist.*--force/);
  t.equal(run(['keys', 'init', '--out', otherKeys]).code, 0);
});

t.test('capture, then verify passes; a second capture is byte-identical', async (t) => {
  const args = ['capture', '--tenant', 'acme', '--from', from, '--to', to, '--data-dir', archive.dataDir, '--key', join(keys, 'signing-key.pem')];
  const r = run([...args, '--out', tar]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /3 chunks, 9 records/);
  t.match(r.out, /manifest sha256 [0-9a-f]{64}/);
  t.match(r.err, /warning: the tee shed 3 records/);
  const r2 = run([...args, '--out', `${tar}.2`]);
  t.equal(r2.code, 0, r2.err);
  t.ok(readFileSync(tar).equals(readFileSync(`${tar}.2`)), 'byte-identical bundles');
  const v = run(['verify', tar, '--key', join(keys, 'signing-key.pub.pem')]);
  t.equal(v.code, 0, v.err);
  t.match(v.out, /^OK: .*signed by key [0-9a-f]{64}/);
  t.match(v.out, /tenant acme, profile default, 2026-01-31T12:00:00.000Z \.\. 2026-01-31T12:01:00.000Z/);
});

t.test('verify names each failure and exits 1', async (t) => {
  const entries = () => {
    const r = readTar(readFileSync(tar));
    if (!r.ok) throw new Error(r.reason);
    return r.entries.map((e) => ({ name: e.name, data: Buffer.from(e.data) }));
  };
  const chunk = entries()[3]!.name;
  const cases: [string, { name: string; data: Buffer }[], RegExp][] = [
    ['chunk byte flipped', entries().map((e) => (e.name === chunk ? { name: e.name, data: Buffer.from(e.data).fill(0x42, 30, 31) } : e)), new RegExp(`FAILED tampered-chunk: tampered chunk: ${chunk}`)],
    ['manifest edited', entries().map((e) => (e.name === 'manifest.json' ? { name: e.name, data: Buffer.from(e.data.toString().replace('"acme"', '"acmf"')) } : e)), /FAILED tampered-manifest: tampered manifest: manifest.json/],
    ['file missing', entries().filter((e) => e.name !== chunk), new RegExp(`FAILED missing-file: missing file: ${chunk}`)],
    ['extra file', [...entries(), { name: 'notes.txt', data: Buffer.from('hi') }], /FAILED extra-file: extra file: notes.txt/],
  ];
  for (const [name, es, message] of cases) {
    const file = join(archive.dataDir, `${name.replace(/ /g, '-')}.tar`);
    writeFileSync(file, writeTar(es));
    const r = run(['verify', file, '--key', join(keys, 'signing-key.pub.pem')]);
    t.equal(r.code, 1, name);
    t.match(r.err, message, name);
    t.match(r.err, /INVALID: .* \(1 failure\)/, name);
  }
  const wrong = run(['verify', tar, '--key', join(otherKeys, 'signing-key.pub.pem')]);
  t.equal(wrong.code, 1);
  t.match(wrong.err, /FAILED wrong-key: wrong key: the bundle was signed by key/);
  const keyless = run(['capture', '--tenant', 'acme', '--out', `${tar}.k`, '--keyless', '--data-dir', archive.dataDir]);
  t.equal(keyless.code, 2, 'keyless without an identity token is a usage error (no network in tests)');
  t.match(keyless.err, /SIGSTORE_ID_TOKEN/);
  const usage = run(['verify', tar]);
  t.equal(usage.code, 2);
  t.match(usage.err, /--key PUB.pem is required/);
});

t.test('replay verifies, then reproduces the archive at an OTLP/HTTP backend', async (t) => {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const refused = await runAsync(['replay', tar, '--key', join(otherKeys, 'signing-key.pub.pem'), '--export', `otlp-http://${new URL(sink.httpUrl).host}`]);
  t.equal(refused.code, 1);
  t.match(refused.err, /not replaying .*: it does not verify/);
  t.equal(sink.requests.length, 0, 'nothing sent from an unverified bundle');
  const r = await runAsync(['replay', tar, '--key', join(keys, 'signing-key.pub.pem'), '--export', `otlp-http://${new URL(sink.httpUrl).host}`, '--rate', '100/s']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /replayed .* 9 requests/);
  for (const signal of SIGNALS) {
    t.same(
      flattenRequests(signal, sink.received(signal).map((x) => x.body)),
      flattenRequests(signal, archive.inWindow.filter((x) => x.signal === signal).map((x) => x.payload)),
      signal,
    );
  }
});
