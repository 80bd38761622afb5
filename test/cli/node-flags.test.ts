// Every documented way of starting the gateway passes the same V8 flags and environment (src/cli/node-flags.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS, gatewayEnvWords } from '../../src/cli/node-flags.js';
import { packageRoot } from '../../src/paths.js';

const read = (f: string) => readFileSync(join(packageRoot, f), 'utf8');

t.test('the bin shebang, npm start and the Dockerfile pass the gateway node flags', async (t) => {
  const shebang = read('dist/src/cli/main.js').split('\n')[0]!;
  const start = JSON.parse(read('package.json')).scripts.start as string;
  const dockerfile = read('docker/Dockerfile');
  t.ok(GATEWAY_NODE_FLAGS.length > 0);
  for (const flag of GATEWAY_NODE_FLAGS) {
    t.ok(shebang.startsWith('#!/usr/bin/env -S ') && new RegExp(` node [^#]*${flag}`).test(shebang), `shebang has ${flag}`);
    t.match(start, new RegExp(`node [^&]*${flag}[^&]* dist/src/cli/main\\.js telemetry serve`), `npm start has ${flag}`);
    t.ok(dockerfile.includes(`"${flag}"`), `Dockerfile entrypoint has ${flag}`);
  }
});

t.test('the bin shebang, npm start and the Dockerfile set the gateway environment before node starts', async (t) => {
  const shebang = read('dist/src/cli/main.js').split('\n')[0]!;
  const start = JSON.parse(read('package.json')).scripts.start as string;
  const dockerfile = read('docker/Dockerfile');
  const words = gatewayEnvWords();
  t.ok(words.length > 0 && words.length === Object.keys(GATEWAY_ENV).length);
  // `env -S A=1 B=2 node …`: env sets the variables, then runs node with them.
  t.ok(shebang.startsWith(`#!/usr/bin/env -S ${words.join(' ')} node `), `shebang sets ${words.join(' ')} before node`);
  // `… && A=1 B=2 node … dist/src/cli/main.js telemetry serve`: the shell sets them for that command.
  t.ok(start.includes(`&& ${words.join(' ')} node `), `npm start sets ${words.join(' ')} for node`);
  for (const w of words) {
    t.match(dockerfile, new RegExp(`^ENV [^\\n]*\\b${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm'), `Dockerfile ENV has ${w}`);
  }
});

t.test('the run-time V8 flags are set only where this V8 knows them (no "unrecognized flag" on any Node)', async (t) => {
  // v8.setFlagsFromString prints "Error: unrecognized flag …" for a flag this V8 lacks (Node 20's
  // V8 11 lacks --scavenger-max-new-space-capacity-mb, and Node 26's V8 14 dropped it); where it is set
  // (V8 12 and 13) it must be recognised.
  const module = pathToFileURL(join(packageRoot, 'dist/src/cli/node-flags.js')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `(await import(${JSON.stringify(module)})).applyRuntimeV8Flags();`], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '', `no complaint from V8 ${process.versions.v8}`);
});
