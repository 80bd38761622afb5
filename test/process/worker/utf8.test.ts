import t from 'tap';
import { isValidUtf8 } from '../../../src/process/worker/utf8.js';
import { createRng } from '../../helpers/generate-otlp.js';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function reference(b: Uint8Array): boolean {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
}
const check = (bytes: number[]): boolean => isValidUtf8(Uint8Array.from(bytes), 0, bytes.length);

t.test('valid text of every width', async (t) => {
  for (const s of ['', 'a', 'hello world, long enough for the 4-byte steps', 'Grüße', '東京', '🚀', '\u{10ffff}', '\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}']) {
    const b = Buffer.from(s, 'utf8');
    t.ok(isValidUtf8(b, 0, b.length), JSON.stringify(s));
  }
});

t.test('the WHATWG decoder rules', async (t) => {
  t.notOk(check([0x80]), 'lone continuation');
  t.notOk(check([0xc0, 0x80]), 'overlong 2-byte');
  t.notOk(check([0xc1, 0xbf]), 'overlong 2-byte');
  t.notOk(check([0xe0, 0x80, 0x80]), 'overlong 3-byte');
  t.notOk(check([0xed, 0xa0, 0x80]), 'surrogate');
  t.notOk(check([0xf0, 0x80, 0x80, 0x80]), 'overlong 4-byte');
  t.notOk(check([0xf4, 0x90, 0x80, 0x80]), 'above U+10FFFF');
  t.notOk(check([0xf5, 0x80, 0x80, 0x80]), 'F5 lead');
  t.notOk(check([0xff]), 'FF');
  t.notOk(check([0x61, 0x62, 0x63, 0x64, 0xe6, 0x9d]), 'truncated at the end');
  t.ok(check([0xef, 0xbb, 0xbf]), 'a BOM is a character');
});

t.test('only the given range is checked', async (t) => {
  const b = Uint8Array.from([0xff, 0x61, 0x62, 0xff]);
  t.ok(isValidUtf8(b, 1, 3));
  t.notOk(isValidUtf8(b, 0, 3));
  t.notOk(isValidUtf8(b, 1, 4));
});

t.test('agrees with TextDecoder (fatal) on 20,000 random sequences', async (t) => {
  const rng = createRng(20240601);
  const alphabet = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  let disagreements = 0;
  let valid = 0;
  for (let i = 0; i < 20000; i++) {
    const bytes = Array.from({ length: rng.int(0, 12) }, () => (rng.chance(0.7) ? rng.pick(alphabet) : rng.int(0, 255)));
    const b = Uint8Array.from(bytes);
    const expected = reference(b);
    if (expected) valid++;
    if (isValidUtf8(b, 0, b.length) !== expected) {
      if (disagreements++ < 5) t.fail(`disagree on ${Buffer.from(b).toString('hex')}: expected ${expected}`);
    }
  }
  t.equal(disagreements, 0);
  t.ok(valid > 1000 && valid < 19000, `both outcomes exercised (${valid} valid)`);
});
