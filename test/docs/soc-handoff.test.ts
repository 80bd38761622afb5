// docs/guides/soc-handoff.md names tests as evidence: each test file it names must exist, so the page
// cannot point an auditor at a test that was renamed or removed.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

t.test('every test file the SOC hand-off page names exists', async (t) => {
  const page = readFileSync(join(packageRoot, 'docs/guides/soc-handoff.md'), 'utf8');
  const named = [...new Set([...page.matchAll(/`(test\/[\w./-]+\.test\.ts)`/g)].map((m) => m[1]!))];
  t.ok(named.length >= 10, `the page names its evidence (${named.length} test files)`);
  for (const file of named) t.ok(existsSync(join(packageRoot, file)), `${file} exists`);
});
