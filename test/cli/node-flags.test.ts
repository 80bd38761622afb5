// Every documented way of starting the gateway passes the same V8 flags (src/cli/node-flags.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { packageRoot } from '../../src/paths.js';

const read = (f: string) => readFileSync(join(packageRoot, f), 'utf8');

t.test('the bin shebang, npm start and the Dockerfile pass the gateway node flags', async (t) => {
  const shebang = read('dist/src/cli/main.js').split('\n')[0]!;
  const start = JSON.parse(read('package.json')).scripts.start as string;
  const dockerfile = read('docker/Dockerfile');
  t.ok(GATEWAY_NODE_FLAGS.length > 0);
  for (const flag of GATEWAY_NODE_FLAGS) {
    t.ok(shebang.startsWith('#!/usr/bin/env -S node ') && shebang.includes(flag), `shebang has ${flag}`);
    t.match(start, new RegExp(`node [^&]*${flag}[^&]* dist/src/cli/main\\.js telemetry serve`), `npm start has ${flag}`);
    t.ok(dockerfile.includes(`"${flag}"`), `Dockerfile entrypoint has ${flag}`);
  }
});
