// secretTriggers runs an automaton built from the trigger conditions (prefilter.ts); it must give
// exactly what the byte-at-a-time reference gives, on the PII corpus, on generated telemetry values,
// on random strings dense in the bytes the conditions look at (digits, separators, stem letters in both
// cases, `%5F`-style escapes, non-ASCII bytes), and on sub-ranges of a larger buffer.
import t from 'tap';
import { Trigger, prefilterDfaSize, secretTriggers, secretTriggersReference } from '../../../src/policy/detect/prefilter.js';
import { piiCorpusStrings as corpusStrings } from '../../helpers/fixtures.js';

t.test('the automaton is small and the same as the reference on the PII corpus', async (t) => {
  const size = prefilterDfaSize();
  t.ok(size.states > 100 && size.states * size.classes <= 1 << 16, `${size.states} states × ${size.classes} byte classes`);
  const strings = corpusStrings();
  const differ: string[] = [];
  let flagged = 0;
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    const want = secretTriggersReference(b, 0, b.length);
    if (want !== 0) flagged++;
    if (secretTriggers(b, 0, b.length) !== want) differ.push(s.slice(0, 80));
  }
  t.ok(flagged > 500, `${flagged} of ${strings.length} strings flagged`);
  t.same(differ, []);
});

t.test('the same as the reference on random strings and sub-ranges', async (t) => {
  const alphabets = [
    '0123456789.:+-@ aAeEyYjJkKiIsSgGhHtTuUbB_xXoOpP%5fFdD2e]=',
    'passwordPASSWsecrettokenapi_kAPI-Kauthorizationcookiessnprivatesignaturecredentialsessidaccess_ksigning_kassertionsigkeyauthpasssessionbearerbasicya29%5f%2D%2e%5B%5d=%]_i',
    '0123456789. :-+ABDEZ',
    'eyJAKIASIAgh_github_xoxxapp-----@::',
  ];
  let seed = 20261129;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const buf = new Uint8Array(80);
  const seen = new Set<number>();
  let differ = 0;
  const examples: string[] = [];
  // Whole pieces of the conditions, glued at random.
  const tokens = ['eyJ', 'AKIA', 'ASIA', 'gh', 'p_', 'github_', 'xox', 'xapp', '-----', '-', '@', '::', ':', '+1', 'DE89', '1.2.', '3', 'Pass', 'key=', 'SIG]', ' ', '%5F', '\u00e9', 'x'];
  for (let k = 0; k < 60_000; k++) {
    let len = 0;
    if (k % 5 === 4) {
      while (len < 50) {
        const tok = tokens[Math.floor(rnd() * tokens.length)]!;
        for (let i = 0; i < tok.length && len < 80; i++) buf[len++] = tok.charCodeAt(i);
      }
    } else {
      const alpha = alphabets[k % alphabets.length]!;
      len = 1 + Math.floor(rnd() * 60);
      // Now and then a byte outside ASCII (a letter's neighbour that counts as a boundary).
      for (let i = 0; i < len; i++) buf[i] = rnd() < 0.03 ? 0x80 + Math.floor(rnd() * 0x80) : alpha.charCodeAt(Math.floor(rnd() * alpha.length));
    }
    const start = Math.floor(rnd() * 4);
    const end = Math.max(start, len - Math.floor(rnd() * 4));
    const want = secretTriggersReference(buf, start, end);
    seen.add(want);
    if (secretTriggers(buf, start, end) !== want) {
      differ++;
      if (examples.length < 5) examples.push(Buffer.from(buf.subarray(start, end)).toString('latin1'));
    }
  }
  t.equal(differ, 0, `differences: ${JSON.stringify(examples)}`);
  // The strings exercise the conditions: every trigger bit occurs.
  let union = 0;
  for (const b of seen) union |= b;
  for (const [name, bit] of Object.entries(Trigger)) t.ok((union & bit) !== 0, `${name} met`);
});

t.test('generated telemetry values', async (t) => {
  const values = [
    'GET /api/v1/orders/{orderId}',
    'SELECT id, status, total_cents, created_at FROM orders WHERE email = $1 LIMIT 20',
    'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'http://inventory.shop.svc.cluster.local:8080/api/v1/products?page=17&api_key=abcdef0123456789abcdef',
    'charged card 4111 1111 1111 1111 for order 123456',
    '2001:db8:3c4d::1a2f, 192.0.2.17',
    'session=9f86d081884c7d659a2feaa0c55ad015; theme=dark',
    'Zoë <zoe@example.org> ☎ +44 20 7946 0123',
  ];
  for (const v of values) {
    const b = Buffer.from(v, 'utf8');
    t.equal(secretTriggers(b, 0, b.length), secretTriggersReference(b, 0, b.length), v);
  }
});
