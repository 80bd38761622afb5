// `./stella`, the clone's CLI as the docs call it: runs the built CLI at once, with no network and no cache.
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const script = join(packageRoot, 'stella');
const env = { ...process.env, NODE_OPTIONS: '' };

t.test('./stella runs the built CLI from any directory', async (t) => {
  const version = spawnSync(script, ['--version'], { cwd: tmpdir(), env, encoding: 'utf8' });
  t.equal(version.status, 0, version.stderr);
  t.equal(version.stdout.trim(), JSON.parse(spawnSync('cat', [join(packageRoot, 'package.json')], { encoding: 'utf8' }).stdout).version);
  const help = spawnSync(script, ['telemetry', '--help'], { cwd: tmpdir(), env, encoding: 'utf8' });
  t.equal(help.status, 0);
  t.match(help.stdout, /Usage: stella telemetry <command>/);
});
