// A forensic archive on disk for the bundle tests: real segment files (encodeRecord over generated OTLP
// requests) in the tee's layout, open and sealed, two tiers, records inside and outside the window,
// another tenant, and a shed log.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeRecord, SEGMENT_MAGIC, type SegmentRecord } from '../../src/tee/segment-format.js';
import type { Signal } from '../../src/signals.js';
import { generateRequest, createRng } from '../helpers/generate-otlp.js';
import { flattenRequests } from '../helpers/flatten.js';
import { generateSigningKeyPair, type KeyPairPem } from '../../src/tee/sign.js';

export const T0 = Date.UTC(2026, 0, 31, 12, 0, 0);
export const WINDOW = { fromMs: T0, toMs: T0 + 60_000 };

export interface TestArchive {
  dataDir: string;
  root: string;
  /** acme's records inside WINDOW, in receive order. */
  inWindow: SegmentRecord[];
  keys: KeyPairPem;
  otherKeys: KeyPairPem;
}

function record(signal: Signal, timeMs: number, seed: number, policyVersion: string): SegmentRecord {
  const { bytes } = generateRequest(signal, createRng(seed));
  return { signal, timeMs, policyVersion, items: flattenRequests(signal, [bytes]).length, payload: bytes };
}

function writeSegment(path: string, records: SegmentRecord[], sealed: boolean): void {
  const raw = Buffer.concat([SEGMENT_MAGIC, ...records.map(encodeRecord)]);
  writeFileSync(sealed ? `${path}.gz` : path, sealed ? gzipSync(raw) : raw);
}

let bundles = 0;
/** A fresh path for a capture's bundle file (captures stream to disk), under `dir`. */
export function bundlePath(dir: string): string {
  mkdirSync(join(dir, 'bundles'), { recursive: true });
  return join(dir, 'bundles', `${process.pid}-${++bundles}.tar`);
}

export function makeArchive(): TestArchive {
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-bundle-'));
  const root = join(dataDir, 'forensic');
  const signals: Signal[] = ['traces', 'metrics', 'logs'];
  let seed = 1;
  const at = (offsetMs: number, i: number, version = 'v1') => record(signals[i % 3]!, T0 + offsetMs, seed++, version);
  // default tier: a sealed segment straddling the window start, then an open one straddling its end.
  const before = [at(-2000, 0), at(-1000, 1)];
  const a = [at(0, 0), at(1000, 1), at(2000, 2), at(3000, 0, 'v2')];
  const b = [at(30_000, 1, 'v2'), at(59_999, 2, 'v2')];
  const after = [at(60_000, 0, 'v2'), at(61_000, 1, 'v2')];
  // forensic tier (an incident escalated it): an open segment inside the window.
  const c = [at(10_000, 0, 'v2'), at(10_000, 1, 'v2'), at(20_000, 2, 'v2')];
  mkdirSync(join(root, 'acme', 'default'), { recursive: true });
  mkdirSync(join(root, 'acme', 'forensic'), { recursive: true });
  mkdirSync(join(root, 'globex', 'default'), { recursive: true });
  writeSegment(join(root, 'acme', 'default', `${T0 - 2000}-000001.seg`), [...before, ...a], true);
  writeSegment(join(root, 'acme', 'default', `${T0 + 30_000}-000002.seg`), [...b, ...after], false);
  writeSegment(join(root, 'acme', 'forensic', `${T0 + 10_000}-000003.seg`), c, false);
  writeSegment(join(root, 'globex', 'default', `${T0}-000001.seg`), [at(5000, 0)], false);
  writeFileSync(
    join(root, 'acme', 'shed.jsonl'),
    [
      { fromMs: T0 - 600_000, toMs: T0 - 500_000, records: 9, bytes: 900, reason: 'disk_budget' },
      { fromMs: T0 + 40_000, toMs: T0 + 41_000, records: 3, bytes: 300, reason: 'slow_disk' },
    ]
      .map((w) => JSON.stringify(w))
      .join('\n') + '\n',
  );
  const inWindow = [...a, ...c, ...b].sort((x, y) => x.timeMs - y.timeMs);
  return { dataDir, root, inWindow, keys: generateSigningKeyPair(), otherKeys: generateSigningKeyPair() };
}
