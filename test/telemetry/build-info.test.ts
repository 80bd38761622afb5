// build_info names what runs: the package version, this Node, and the checkout's commit.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

t.test('build_info carries the version, the Node runtime and the commit', async (t) => {
  const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('build_info{'));
  t.ok(line, 'exposed');
  const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  t.match(line!, `version="${version}"`);
  t.match(line!, `node="${process.version}"`);
  let head: string | undefined;
  try {
    head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot, encoding: 'utf8' }).trim();
  } catch {
    head = undefined; // not a checkout (an unpacked package): the commit is "unknown" or STELLA_COMMIT
  }
  t.match(line!, `commit="${process.env.STELLA_COMMIT || head || 'unknown'}"`);
  t.match(line!, /\} 1$/);
});
