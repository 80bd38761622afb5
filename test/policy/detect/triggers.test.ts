// secretTriggers (the per-detector form of the prefilter) against the detectors: whenever a detector
// finds something in a string, the string meets one of that detector's triggers (no false negative),
// on every string of the PII corpus, every secret and negative line, and every detector's own test
// values; and the union of the triggers is exactly mayContainSecret.
import t from 'tap';
import { CATEGORY_TRIGGERS, DETECTORS, mayContainSecret, secretTriggers, Trigger, type Finding } from '../../../src/policy/detect/index.js';
import { piiCorpusStrings as corpusStrings } from '../../helpers/fixtures.js';

t.test('every detector finding is preceded by one of its triggers', async (t) => {
  const strings = corpusStrings();
  t.ok(strings.length > 1000, `${strings.length} strings`);
  const missed: string[] = [];
  let findings = 0;
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    const bits = secretTriggers(b, 0, b.length);
    if ((bits !== 0) !== mayContainSecret(b, 0, b.length)) missed.push(`union differs from mayContainSecret: ${s.slice(0, 80)}`);
    for (const d of DETECTORS) {
      const out: Finding[] = [];
      d.find(s, out, undefined);
      if (out.length === 0) continue;
      findings++;
      if ((CATEGORY_TRIGGERS[d.category]! & bits) === 0) missed.push(`${d.category}: ${s.slice(0, 80)}`);
    }
  }
  t.ok(findings > 400, `${findings} detector findings checked`);
  t.same(missed, []);
});

t.test('each trigger on its own', async (t) => {
  const bits = (s: string): number => secretTriggers(Buffer.from(s), 0, Buffer.byteLength(s));
  t.equal(bits('GET /api/v1/cart'), 0);
  t.equal(bits('x 1234 y'), Trigger.DIGITS, 'a short digit run: no card, SSN or phone detector');
  t.equal(bits('x 4111 1111 1111 1111 y') & CATEGORY_TRIGGERS.credit_card, CATEGORY_TRIGGERS.credit_card, 'enough digits for a card');
  t.equal(bits('x 900-12-3456 y') & (CATEGORY_TRIGGERS.credit_card | CATEGORY_TRIGGERS.us_ssn), CATEGORY_TRIGGERS.us_ssn, 'enough digits for an SSN, not a card');
  t.equal(bits('a@b'), CATEGORY_TRIGGERS.email);
  t.equal(bits('v 1.2.3.4'), CATEGORY_TRIGGERS.ipv4);
  t.equal(bits('fe80::1'), CATEGORY_TRIGGERS.ipv6);
  t.equal(bits('eyJ'), CATEGORY_TRIGGERS.jwt);
  t.equal(bits('AKIA'), CATEGORY_TRIGGERS.aws_access_key_id);
  t.equal(bits('ghp_'), CATEGORY_TRIGGERS.github_token);
  t.equal(bits('xoxb'), CATEGORY_TRIGGERS.slack_token);
  t.equal(bits('-----'), CATEGORY_TRIGGERS.private_key);
  t.equal(bits('Password'), CATEGORY_TRIGGERS.password_by_key);
  t.equal(bits('DE89'), CATEGORY_TRIGGERS.iban);
  t.equal(bits('+4') & CATEGORY_TRIGGERS.phone, bits('+4'));
  t.equal(bits('mail a@b.example from 192.0.2.1 card 4111'), Trigger.AT | Trigger.IPV4 | Trigger.DIGITS | Trigger.DIGITS_8, 'several at once (10 digits in all: no card)');
});
