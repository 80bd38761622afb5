// Child process of capture-memory.test.ts (its own process, so that its peak RSS is the capture's):
//   node capture-memory-child.js capture <root> <out> <keyPem file>  captures tenant "big", all time
//   node capture-memory-child.js verify <bundle> <pubPem file>        reads the bundle into memory and verifies it
//   node capture-memory-child.js verify-file <bundle> <pubPem file>   verifies the bundle file, streamed
// Prints one JSON line: the peak-RSS growth over the work (process.resourceUsage().maxRSS, the kernel's
// high-water mark: no allocation escapes it, however short-lived) and what the work returned.
import { readFileSync } from 'node:fs';
import { SIGNALS } from '../../src/signals.js';
import { captureWindow } from '../../src/tee/capture.js';
import { createKeySigner } from '../../src/tee/sign.js';
import { verifyBundle, verifyBundleFile } from '../../src/tee/verify-bundle.js';

const [mode, a, b, c] = process.argv.slice(2);
const peak = () => process.resourceUsage().maxRSS * 1024;

if (mode === 'capture') {
  const signer = createKeySigner(readFileSync(c!, 'utf8'));
  const before = peak();
  const r = await captureWindow({ root: a!, tenant: 'big', fromMs: 0, toMs: 8.64e15, signals: [...SIGNALS], profile: 'default', signer, out: b!, holdMs: 0 });
  const growth = peak() - before;
  process.stdout.write(`${JSON.stringify({ growth, bytes: r.bytes, sha256: r.sha256, chunks: r.manifest.totals.chunks, path: r.path })}\n`);
} else if (mode === 'verify' || mode === 'verify-file') {
  const publicKeyPem = readFileSync(b!, 'utf8');
  const before = peak();
  const v = mode === 'verify' ? verifyBundle(readFileSync(a!), publicKeyPem) : verifyBundleFile(a!, publicKeyPem);
  const growth = peak() - before;
  process.stdout.write(`${JSON.stringify({ growth, ok: v.ok, chunks: v.ok ? v.manifest.totals.chunks : -1, failures: v.ok ? [] : v.failures })}\n`);
} else {
  throw new Error(`unknown mode ${mode}`);
}
