// Forensic bundles end to end below the CLI: capture a window from real segment files, verify it with
// the public key, and see each kind of tampering fail with its own message; two captures are identical.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { captureWindow } from '../../src/tee/capture.js';
import { canonicalJson, type Manifest } from '../../src/tee/manifest.js';
import { createKeySigner } from '../../src/tee/sign.js';
import { readTar, writeTar } from '../../src/tee/tar.js';
import { verifyBundle, verifyBundleFile } from '../../src/tee/verify-bundle.js';
import { decodeSegment } from '../../src/tee/segment-format.js';
import { bundlePath, makeArchive, T0, WINDOW } from './bundle-archive.js';

const archive = makeArchive();

/** Captures into a new file; `bundle` is the file's bytes. */
async function capture(signals: ('traces' | 'metrics' | 'logs')[] = ['traces', 'metrics', 'logs'], keyPem = archive.keys.privateKeyPem, now = T0) {
  const r = await captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals, profile: 'forensic', signer: createKeySigner(keyPem), now: () => now, out: bundlePath(archive.dataDir) });
  return { ...r, bundle: readFileSync(r.path) };
}

/** Rewrites the bundle's tar with `edit` applied to its entries. */
function retar(bundle: Buffer, edit: (entries: { name: string; data: Uint8Array }[]) => { name: string; data: Uint8Array }[]): Buffer {
  const read = readTar(bundle);
  if (!read.ok) throw new Error(read.reason);
  return writeTar(edit(read.entries.map((e) => ({ name: e.name, data: Buffer.from(e.data) }))));
}

t.test('tar: round trip, ustar headers, fixed modes and times', async (t) => {
  const entries = [
    { name: 'a.json', data: Buffer.from('{}\n') },
    { name: 'chunks/' + 'd'.repeat(60) + '/' + 'n'.repeat(60), data: Buffer.alloc(1025, 7) }, // uses the ustar prefix field
    { name: 'empty', data: Buffer.alloc(0) },
  ];
  const tar = writeTar(entries);
  t.equal(tar.length % 512, 0);
  t.equal(tar.subarray(257, 262).toString(), 'ustar');
  t.equal(tar.subarray(100, 107).toString(), '0000644');
  t.equal(tar.subarray(136, 147).toString(), '00000000000', 'mtime 0');
  const back = readTar(tar);
  t.ok(back.ok);
  if (!back.ok) return;
  t.same(back.entries.map((e) => [e.name, Buffer.from(e.data).toString('hex')]), entries.map((e) => [e.name, e.data.toString('hex')]));
  t.same(writeTar(entries), tar, 'same entries, same bytes');
  const broken = Buffer.from(tar);
  broken[3] = broken[3]! ^ 1;
  t.match(readTar(broken), { ok: false, reason: /checksum/ });
  t.match(readTar(tar.subarray(0, 1024)), { ok: false });
});

t.test('canonical JSON sorts keys at every level and ends with a newline', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }), '{\n  "a": {\n    "c": null,\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n');
});

t.test('capture then verify: the manifest lists exactly the window of the tenant', async (t) => {
  const r = await capture();
  const v = verifyBundle(r.bundle, archive.keys.publicKeyPem);
  t.ok(v.ok, JSON.stringify(!v.ok && v.failures));
  if (!v.ok) return;
  const m: Manifest = v.manifest;
  t.equal(v.manifestSha256, r.manifestSha256);
  t.equal(m.tenant, 'acme');
  t.equal(m.profile, 'forensic');
  t.same(m.window, { fromMs: WINDOW.fromMs, toMs: WINDOW.toMs, from: '2026-01-31T12:00:00.000Z', to: '2026-01-31T12:01:00.000Z' });
  t.same(m.chunks.map((c) => c.path), [
    `chunks/default/${T0 - 2000}-000001.seg`,
    `chunks/default/${T0 + 30_000}-000002.seg`,
    `chunks/forensic/${T0 + 10_000}-000003.seg`,
  ]);
  t.same(m.retentionTiers, ['default', 'forensic']);
  t.same(m.policyVersions, ['v1', 'v2']);
  t.same(m.chunks[0]!.policyVersions, ['v1', 'v2']);
  t.same(m.chunks[0]!.records, { traces: 2, metrics: 1, logs: 1 });
  t.equal(m.chunks[0]!.firstRecordMs, T0);
  t.equal(m.chunks[0]!.lastRecordMs, T0 + 3000);
  t.equal(m.chunks[1]!.lastRecordMs, T0 + 59_999, 'to is exclusive, from inclusive');
  t.same(m.shed, [{ fromMs: T0 + 40_000, toMs: T0 + 41_000, records: 3, bytes: 300, reason: 'slow_disk' }], 'only the shed window overlapping');
  const total = m.totals.records.traces + m.totals.records.metrics + m.totals.records.logs;
  t.equal(total, archive.inWindow.length);
  t.equal(m.totals.items.traces, archive.inWindow.filter((x) => x.signal === 'traces').reduce((n, x) => n + x.items, 0));
  // Every chunk holds exactly the window's records, byte for byte.
  const payloads = [...v.chunks.values()].flatMap((c) => {
    const d = decodeSegment(c);
    t.ok(d.ok);
    return d.records.map((x) => Buffer.from(x.payload).toString('hex'));
  });
  t.same(payloads.sort(), archive.inWindow.map((x) => Buffer.from(x.payload).toString('hex')).sort());
  for (const c of m.chunks) t.equal(createHash('sha256').update(v.chunks.get(c.path)!).digest('hex'), c.sha256);
  // The hold keeps the window from being pruned.
  t.same(JSON.parse(readFileSync(r.holdPath, 'utf8')), { tenant: 'acme', fromMs: WINDOW.fromMs, toMs: WINDOW.toMs, expiresAt: new Date(T0 + 7 * 86_400_000).toISOString() });
});

t.test('verifying the file (streamed) agrees with verifying the bytes, without holding the chunks', async (t) => {
  const r = await capture();
  const inMemory = verifyBundle(r.bundle, archive.keys.publicKeyPem);
  const streamed = verifyBundleFile(r.path, archive.keys.publicKeyPem);
  t.ok(inMemory.ok && streamed.ok);
  if (!inMemory.ok || !streamed.ok) return;
  t.same({ ...streamed, chunks: undefined }, { ...inMemory, chunks: undefined });
  t.equal(streamed.chunks.size, 0, 'no chunk held');
  const truncated = bundlePath(archive.dataDir);
  writeFileSync(truncated, r.bundle.subarray(0, 3000));
  t.same(verifyBundleFile(truncated, archive.keys.publicKeyPem), verifyBundle(r.bundle.subarray(0, 3000), archive.keys.publicKeyPem), 'a truncated file: the same failure');
  t.match(verifyBundleFile(truncated, archive.keys.publicKeyPem), { ok: false, failures: [{ kind: 'not-a-bundle' }] });
});

t.test('signals select records: a logs-only capture holds only logs', async (t) => {
  const r = await capture(['logs']);
  t.same(r.manifest.signals, ['logs']);
  t.same(r.manifest.totals.records, { traces: 0, metrics: 0, logs: archive.inWindow.filter((x) => x.signal === 'logs').length });
  t.ok(verifyBundle(r.bundle, archive.keys.publicKeyPem).ok);
});

t.test('determinism: the same window captured twice gives byte-identical manifest and bundle', async (t) => {
  const a = await capture();
  const b = await capture(['logs', 'traces', 'metrics'], archive.keys.privateKeyPem, T0 + 99_999);
  t.ok(a.manifestBytes.equals(b.manifestBytes), 'manifest');
  t.ok(a.bundle.equals(b.bundle), 'bundle');
  t.equal(createHash('sha256').update(a.bundle).digest('hex'), createHash('sha256').update(b.bundle).digest('hex'));
});

t.test('each tampering fails with its own message', async (t) => {
  const { bundle, manifest } = await capture();
  const chunk = manifest.chunks[1]!.path;
  const cases: [string, Buffer, string, RegExp][] = [
    [
      'chunk byte flipped',
      retar(bundle, (es) => es.map((e) => (e.name === chunk ? { name: e.name, data: Buffer.from(e.data).fill(0x41, 40, 41) } : e))),
      'tampered-chunk',
      new RegExp(`^tampered chunk: ${chunk} has sha256`),
    ],
    [
      'manifest edited',
      retar(bundle, (es) => es.map((e) => (e.name === 'manifest.json' ? { name: e.name, data: Buffer.from(Buffer.from(e.data).toString().replace('"forensic"', '"default"')) } : e))),
      'tampered-manifest',
      /^tampered manifest: manifest.json has sha256 [0-9a-f]{64}, the signature covers/,
    ],
    ['chunk missing', retar(bundle, (es) => es.filter((e) => e.name !== chunk)), 'missing-file', new RegExp(`^missing file: ${chunk} \\(listed in the manifest\\)`)],
    ['manifest missing', retar(bundle, (es) => es.filter((e) => e.name !== 'manifest.json')), 'missing-file', /^missing file: manifest.json$/],
    ['signature missing', retar(bundle, (es) => es.filter((e) => e.name !== 'manifest.sigstore.json')), 'missing-file', /^missing file: manifest.sigstore.json$/],
    ['extra file', retar(bundle, (es) => [...es, { name: 'chunks/default/evil.seg', data: Buffer.from('x') }]), 'extra-file', /^extra file: chunks\/default\/evil.seg \(not listed/],
    ['not a tar', Buffer.from('hello'), 'not-a-bundle', /^not a bundle/],
  ];
  for (const [name, tar, kind, message] of cases) {
    const v = verifyBundle(tar, archive.keys.publicKeyPem);
    t.equal(v.ok, false, name);
    if (v.ok) continue;
    t.equal(v.failures.length, 1, `${name}: one failure`);
    t.equal(v.failures[0]!.kind, kind, name);
    t.match(v.failures[0]!.message, message, name);
    // The streaming check of a file says exactly the same.
    const file = bundlePath(archive.dataDir);
    writeFileSync(file, tar);
    t.same(verifyBundleFile(file, archive.keys.publicKeyPem), v, `${name}: the same from the file`);
  }
  // Another key: the hint names the signer, and stripping the hint still fails on the signature itself.
  const wrong = verifyBundle(bundle, archive.otherKeys.publicKeyPem);
  t.match(wrong, { ok: false, failures: [{ kind: 'wrong-key', message: /^wrong key: the bundle was signed by key [0-9a-f]{64}, the given public key is/ }] });
  const noHint = retar(bundle, (es) =>
    es.map((e) => {
      if (e.name !== 'manifest.sigstore.json') return e;
      const j = JSON.parse(Buffer.from(e.data).toString()) as { verificationMaterial: { publicKey: { hint?: string } } };
      delete j.verificationMaterial.publicKey.hint;
      return { name: e.name, data: Buffer.from(JSON.stringify(j)) };
    }),
  );
  t.ok(verifyBundle(noHint, archive.keys.publicKeyPem).ok, 'without the hint the right key still verifies');
  t.match(verifyBundle(noHint, archive.otherKeys.publicKeyPem), { ok: false, failures: [{ kind: 'bad-signature', message: /^signature does not verify with the given public key/ }] });
});

t.test('a keyless (certificate) bundle is named as such, not verified with --key', async (t) => {
  const { bundle } = await capture();
  const keyless = retar(bundle, (es) =>
    es.map((e) => {
      if (e.name !== 'manifest.sigstore.json') return e;
      const j = JSON.parse(Buffer.from(e.data).toString()) as Record<string, unknown>;
      j.mediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json';
      j.verificationMaterial = { certificate: { rawBytes: Buffer.from('not really a certificate').toString('base64') }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } };
      return { name: e.name, data: Buffer.from(JSON.stringify(j)) };
    }),
  );
  t.match(verifyBundle(keyless, archive.keys.publicKeyPem), { ok: false, failures: [{ kind: 'bad-signature-file', message: /signed keyless/ }] });
});

t.test('a bundle made with one key fails with another, and verifies with its own', async (t) => {
  const other = await capture(undefined, archive.otherKeys.privateKeyPem);
  t.ok(verifyBundle(other.bundle, archive.otherKeys.publicKeyPem).ok);
  t.match(verifyBundle(other.bundle, archive.keys.publicKeyPem), { ok: false, failures: [{ kind: 'wrong-key' }] });
});

t.test('a capture that fails midway leaves neither the bundle nor a temp file', async (t) => {
  const out = bundlePath(archive.dataDir);
  const failing = { sign: async () => Promise.reject(new Error('signing device unplugged')) };
  await t.rejects(captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals: ['traces'], profile: 'forensic', signer: failing, now: () => T0, out }), /signing device unplugged/);
  const dir = dirname(out);
  t.same(readdirSync(dir).filter((n) => n.startsWith(basename(out))), [], `nothing named ${basename(out)}* in ${dir}`);
});

t.test('the bundle file is written with mode 0600 (it holds a tenant telemetry), also over a leftover temp file', async (t) => {
  const out = bundlePath(archive.dataDir);
  writeFileSync(`${out}.tmp`, 'left by a crash', { mode: 0o644 });
  const r = await captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals: ['traces'], profile: 'forensic', signer: createKeySigner(archive.keys.privateKeyPem), now: () => T0, out });
  t.equal(statSync(r.path).mode & 0o777, 0o600);
  t.equal(r.bytes, statSync(r.path).size);
  t.equal(r.sha256, createHash('sha256').update(readFileSync(r.path)).digest('hex'));
  t.notOk(existsSync(`${out}.tmp`));
});
