// RuleSet.scan / found / replacement (the fast path's allocation-light redaction) against
// RuleSet.redact (the reference path's): same findings, same replacements, same counts, on every string
// of the PII corpus under the shipped default policies, and with custom patterns and keys.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { defaultPoliciesDir } from '../../../src/paths.js';
import { loadPolicy } from '../../../src/policy/load.js';
import { compileRules, MASK, type RuleSet } from '../../../src/process/worker/policy-rules.js';
import { piiFixtures } from '../../helpers/fixtures.js';
import { policyFrom } from './policy-fixtures.js';

/** What the rewrite does with scan: the redacted string, and counts by category. */
function viaScan(r: RuleSet, value: string, key: string | undefined, sensitive: boolean): { value: string; counts: Record<string, number> } {
  const n = r.scan(value, key, 16383, sensitive);
  const counts: Record<string, number> = {};
  let out = '';
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const name = r.categories[r.found.cat[i]!]!;
    counts[name] = (counts[name] ?? 0) + 1;
    out += value.slice(pos, r.found.start[i]!) + r.replacement(i, value);
    pos = r.found.end[i]!;
  }
  return { value: out + value.slice(pos), counts };
}

function corpusLines(): { key: string | undefined; value: string }[] {
  const out: { key: string | undefined; value: string }[] = [];
  for (const f of ['secrets.txt', 'negatives.txt']) {
    for (const l of readFileSync(join(piiFixtures, f), 'utf8').split('\n').filter(Boolean)) {
      out.push({ key: undefined, value: l.slice(l.indexOf('\t') + 1) });
      out.push({ key: 'note', value: l });
    }
  }
  return out;
}

t.test('scan and replacement agree with redact on the PII corpus (default policies)', async (t) => {
  const loaded = loadPolicy(defaultPoliciesDir, 'default');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const r = compileRules(loaded.policy).forTenant('default');
  let changed = 0;
  const differ: string[] = [];
  for (const { key, value } of corpusLines()) {
    const counts: Record<string, number> = {};
    const want = r.redact(value, key, counts);
    const got = viaScan(r, value, key, false);
    if (want.count > 0) changed++;
    if (got.value !== want.value || JSON.stringify(Object.entries(got.counts).sort()) !== JSON.stringify(Object.entries(counts).sort())) differ.push(value.slice(0, 60));
  }
  t.ok(changed > 100, `${changed} strings redacted`);
  t.same(differ, []);
});

t.test('several findings in one string, custom patterns, sensitive keys, non-ASCII text', async (t) => {
  const r = compileRules(
    policyFrom({
      detectors: { email: 'mask', phone: { action: 'mask', keepSuffix: 2 }, ipv4: 'drop', password_by_key: 'mask' },
      custom: { order: { regex: 'ORD-[0-9]{6}', action: 'truncate', maxLength: 4 } },
    }),
  ).forTenant('acme');
  const value = 'Zoë zoe@example.org ☎ +1 415 555 0123 from 192.0.2.7 ORD-123456.';
  const counts: Record<string, number> = {};
  const want = r.redact(value, 'note', counts);
  t.equal(want.value, `Zoë ${MASK} ☎ ${MASK}23 from  ORD-.`);
  t.same(counts, { email: 1, phone: 1, ipv4: 1, 'custom.order': 1 });
  const got = viaScan(r, value, 'note', false);
  t.equal(got.value, want.value);
  t.same(got.counts, counts);
  t.equal(r.scan(value, 'note', 16383, false), 4, 'four findings');
  t.same(r.found.start.slice(0, 4), [4, 22, 43, 53], 'sorted starts (UTF-16 offsets)');
  // A sensitive key: the whole value is one finding, whatever it holds.
  t.equal(r.scan('hunter2', 'db.password', 16383, true), 1);
  t.equal(r.categories[r.found.cat[0]!], 'password_by_key');
  t.equal(r.replacement(0, 'hunter2'), MASK);
  // Nothing found: nothing reported, and the previous findings do not leak into the count.
  t.equal(r.scan('nothing to see', 'note', 16383, false), 0);
  t.equal(viaScan(r, 'nothing to see', 'note', false).value, 'nothing to see');
  // The triggers skip detectors: without the AT trigger the e-mail is not searched for.
  t.equal(r.scan('zoe@example.org', 'note', 16383 & ~32, false), 0);
});

t.test('a string with very many findings, then ordinary ones', async (t) => {
  const r = compileRules(policyFrom({ detectors: { email: 'mask' } })).forTenant('default');
  const many = Array.from({ length: 1500 }, (_, i) => `u${i}@example.org`).join(' ');
  t.equal(r.scan(many, 'note', 16383, false), 1500);
  t.equal(viaScan(r, many, 'note', false).value, Array.from({ length: 1500 }, () => MASK).join(' '));
  // The arrays grown for 1,500 findings are cut back, keeping the findings of the scan at hand.
  t.equal(r.scan('x zoe@example.org y', 'note', 16383, false), 1);
  t.equal(r.found.start[0], 2);
  t.equal(r.found.end[0], 17);
  t.ok(r.found.start.length <= 1024, 'arrays cut back');
  t.equal(viaScan(r, 'x zoe@example.org y', 'note', false).value, `x ${MASK} y`);
});
