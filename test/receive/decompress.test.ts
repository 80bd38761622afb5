import { createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { decompressBody } from '../../src/receive/decompress.js';
import { payload } from './scripted-ingest.js';

const body = payload(10_000);

t.test('identity, none and no header pass the body through', async (t) => {
  for (const enc of [undefined, '', 'identity', 'none', 'IDENTITY']) {
    const r = await decompressBody(body, enc, 1 << 20);
    t.ok('ok' in r && r.body.equals(body), `encoding ${JSON.stringify(enc)}`);
  }
});

t.test('gzip, x-gzip, zlib deflate and raw deflate are inflated', async (t) => {
  const cases: [string, Buffer][] = [
    ['gzip', gzipSync(body)],
    ['x-gzip', gzipSync(body)],
    [' GZip ', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['deflate', deflateRawSync(body)],
    // a list is undone right to left (RFC 9110 §8.4)
    ['gzip, identity', gzipSync(body)],
    ['deflate, gzip', gzipSync(deflateSync(body))],
  ];
  for (const [enc, compressed] of cases) {
    const r = await decompressBody(compressed, enc, 1 << 20);
    t.ok('ok' in r && r.body.equals(body), `encoding "${enc}" (${compressed.length} bytes)`);
  }
});

t.test('an unknown encoding is UNSUPPORTED_ENCODING', async (t) => {
  for (const enc of ['br', 'zstd', 'gzip, br', 'compress']) {
    const r = await decompressBody(gzipSync(body), enc, 1 << 20);
    t.match(r, { status: 'rejected', code: 'UNSUPPORTED_ENCODING' }, enc);
  }
});

t.test('corrupt data is MALFORMED_PAYLOAD with the zlib reason', async (t) => {
  const notGzip = await decompressBody(Buffer.from('this is not gzip at all'), 'gzip', 1 << 20);
  t.match(notGzip, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: /gzip.*incorrect header check/ });
  const truncated = await decompressBody(gzipSync(body).subarray(0, 100), 'gzip', 1 << 20);
  t.match(truncated, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: /unexpected end of file/ });
  const badDeflate = await decompressBody(Buffer.from([0xff, 0xff, 0xff, 0xff]), 'deflate', 1 << 20);
  t.match(badDeflate, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: /deflate/ });
});

t.test('the limit counts decompressed bytes, inclusive', async (t) => {
  const gz = gzipSync(body);
  const exact = await decompressBody(gz, 'gzip', body.length);
  t.ok('ok' in exact && exact.body.length === body.length, 'exactly the limit is accepted');
  const over = await decompressBody(gz, 'gzip', body.length - 1);
  t.match(over, { status: 'rejected', code: 'PAYLOAD_TOO_LARGE', message: /after decompression/ });
  const deflated = await decompressBody(deflateSync(body), 'deflate', body.length - 1);
  t.match(deflated, { status: 'rejected', code: 'PAYLOAD_TOO_LARGE' });
  const plain = await decompressBody(body, undefined, body.length - 1);
  t.match(plain, { status: 'rejected', code: 'PAYLOAD_TOO_LARGE' }, 'an uncompressed body is limited too');
});

/** 256 MiB of zeros, gzipped (~250 KiB); built by streaming so the test itself never holds them. */
async function bomb256MiB(): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < 256; i++) gz.write(zeros);
  gz.end();
  await new Promise((resolve) => gz.on('end', resolve));
  return Buffer.concat(chunks);
}

/** A ByteBudget that records the most it was asked to hold. */
function recordingBudget(): { grow(n: number): undefined; shrink(n: number): void; held: number; peak: number } {
  const b = {
    held: 0,
    peak: 0,
    grow(n: number): undefined {
      b.held += n;
      b.peak = Math.max(b.peak, b.held);
      return undefined;
    },
    shrink(n: number): void {
      b.held -= n;
    },
  };
  return b;
}

t.test('a gzip bomb whose trailer states its size is refused before any inflating', async (t) => {
  const bomb = await bomb256MiB();
  t.ok(bomb.length < 1 << 20, `bomb is small (${bomb.length} bytes)`);
  t.equal(bomb.readUInt32LE(bomb.length - 4), 256 << 20, 'its trailer states 256 MiB');
  const budget = recordingBudget();
  const r = await decompressBody(bomb, 'gzip', 4 << 20, budget);
  t.match(r, { status: 'rejected', code: 'PAYLOAD_TOO_LARGE', message: /exceeds 4194304 bytes after decompression \(its gzip trailer states 268435456\)/ });
  t.equal(budget.peak, 0, 'no byte of output was admitted: nothing was inflated');
});

t.test('a gzip bomb with a forged trailer stops at the limit without allocating its expanded size', async (t) => {
  const bomb = await bomb256MiB();
  bomb.writeUInt32LE(1000, bomb.length - 4); // states 1,000 bytes; inflates to 256 MiB
  const budget = recordingBudget();
  // Peak RSS is sampled while zlib works (without the limit it jumps by ~256 MiB).
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  const r = await decompressBody(bomb, 'gzip', 4 << 20, budget);
  clearInterval(sampler);
  const grew = Math.max(peak, process.memoryUsage().rss) - rssBefore;
  t.match(r, { status: 'rejected', code: 'PAYLOAD_TOO_LARGE', message: /exceeds 4194304 bytes after decompression/ });
  t.ok(budget.peak <= 4 << 20, `the budget held at most the limit (${budget.peak} bytes)`);
  t.equal(budget.held, 0, 'and all of it was given back');
  t.ok(grew < 64 << 20, `RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB, far below the 256 MiB expansion`);
});
