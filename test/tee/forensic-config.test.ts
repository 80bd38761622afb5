// The `forensic` config section: defaults, units, errors naming the path, and what the profiles set.
import t from 'tap';
import { DEFAULT_FORENSIC, resolveSegmentCompression } from '../../src/config/sections/forensic.js';
import { zstdAvailable } from '../../src/tee/zstd-support.js';
import { validateConfig } from '../../src/config/validate.js';
import { forensicDir } from '../../src/tee/layout.js';
import { resolve } from 'node:path';

function valid(raw: unknown, profile?: string) {
  const r = validateConfig(raw, undefined, profile ? { profile } : {});
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

t.test('defaults: incident mode, the archive under the data dir, 7d/90d/365d', async (t) => {
  const c = valid({});
  t.same(c.forensic, DEFAULT_FORENSIC);
  t.equal(c.forensic.mode, 'incident');
  t.equal(forensicDir(c), resolve('./data/forensic'));
  t.same(c.forensic.retentionMs, { default: 7 * 86_400_000, forensic: 90 * 86_400_000, airgap: 365 * 86_400_000 });
});

t.test('values with units', async (t) => {
  const c = valid({
    dataDir: '/srv/stella',
    forensic: {
      mode: 'always',
      dir: '/archive',
      maxBytes: '2GiB',
      bufferBytes: '8MiB',
      segment: { maxBytes: '16MiB', maxAge: '5m', compression: 'deflate', gzipLevel: 0 },
      tier: 'forensic',
      incidentTier: 'airgap',
      retention: { default: '1d', forensic: '30d', airgap: '3650d' },
      pruneInterval: '1h',
      captures: { maxWindow: '1d', maxFutureSkew: '0s', retention: '30d', maxCount: 5, maxBytes: '1GiB' },
    },
  });
  t.same(c.forensic, {
    mode: 'always',
    dir: '/archive',
    maxBytes: 2 * 2 ** 30,
    bufferBytes: 8 * 2 ** 20,
    segment: { maxBytes: 16 * 2 ** 20, maxAgeMs: 300_000, compression: 'deflate', gzipLevel: 0 },
    tier: 'forensic',
    incidentTier: 'airgap',
    retentionMs: { default: 86_400_000, forensic: 30 * 86_400_000, airgap: 3650 * 86_400_000 },
    pruneIntervalMs: 3_600_000,
    captures: { maxWindowMs: 86_400_000, maxFutureSkewMs: 0, retentionMs: 30 * 86_400_000, maxCount: 5, maxBytes: 2 ** 30 },
  });
  t.equal(forensicDir(c), '/archive');
});

t.test('errors name the path and the bad value', async (t) => {
  const r = validateConfig({ forensic: { mode: 'sometimes', segment: { gzipLevel: 12, maxAge: 'soon', compression: 'lz4' }, retention: { forensik: '1d' }, incidentTier: 'gold', captures: { maxWindow: 'forever', maxCount: 0, keep: 1 } } });
  t.notOk(r.ok);
  const errors = r.ok ? [] : r.errors;
  t.ok(errors.some((e) => e.startsWith('forensic.mode: expected one of off, incident, always (got "sometimes")')), errors.join('\n'));
  t.ok(errors.some((e) => e.startsWith('forensic.segment.gzipLevel: expected an integer from 0 to 9 (got 12)')));
  t.ok(errors.some((e) => e.startsWith('forensic.segment.maxAge: expected a duration')));
  t.ok(errors.some((e) => e.startsWith('forensic.segment.compression: expected one of auto, zstd, brotli, deflate, none (got "lz4")')), errors.join('\n'));
  t.ok(errors.some((e) => e.startsWith('forensic.retention: unknown key "forensik"')));
  t.ok(errors.some((e) => e.startsWith('forensic.incidentTier: expected one of default, forensic, airgap (got "gold")')));
  t.ok(errors.some((e) => e.startsWith('forensic.captures.maxWindow: expected a duration')), errors.join('\n'));
  t.ok(errors.some((e) => e.startsWith('forensic.captures.maxCount: expected an integer from 1')), errors.join('\n'));
  t.ok(errors.some((e) => e.startsWith('forensic.captures: unknown key "keep"')), errors.join('\n'));
});

t.test('profiles: forensic tees always, airgap archives in the airgap tier', async (t) => {
  t.equal(valid({}, 'forensic').forensic.mode, 'always');
  t.equal(valid({}, 'forensic').forensic.tier, 'default');
  t.equal(valid({}, 'airgap').forensic.tier, 'airgap');
  t.equal(valid({}, 'airgap').forensic.mode, 'incident');
  t.equal(valid({ profiles: { forensic: { forensic: { mode: 'incident' } } } }, 'forensic').forensic.mode, 'incident', 'the file can override the profile');
});

t.test('segment compression: auto by default (zstd where node:zlib has it, else brotli); explicit zstd needs it', async (t) => {
  t.equal(valid({}).forensic.segment.compression, 'auto');
  t.equal(resolveSegmentCompression('auto', true), 'zstd');
  t.equal(resolveSegmentCompression('auto', false), 'brotli');
  t.equal(resolveSegmentCompression('deflate', true), 'deflate');
  t.equal(resolveSegmentCompression('auto'), zstdAvailable() ? 'zstd' : 'brotli', `on Node ${process.versions.node}`);
  const r = validateConfig({ forensic: { segment: { compression: 'zstd' } } });
  if (zstdAvailable()) {
    t.ok(r.ok, `Node ${process.versions.node} has zstd: accepted`);
    t.equal(r.ok ? r.config.forensic.segment.compression : '', 'zstd');
  } else {
    // Node 20 (CI): refused at start-up, with the Node version that has it.
    t.notOk(r.ok, `Node ${process.versions.node} has no zstd: refused`);
    t.match(r.ok ? '' : r.errors.join('\n'), /^forensic\.segment\.compression: zstd needs node:zlib zstd \(Node >= 22\.15 \(or >= 23\.8\)\); this is Node \d+\.\d+\.\d+: use auto/m);
  }
});
