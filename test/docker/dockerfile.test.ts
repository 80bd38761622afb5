// The image as a reader of docker/Dockerfile can check it without a Docker engine (none on these
// machines): the reference runtime, a data dir the runtime user can write, and a health check that
// probes the admin port the entrypoint binds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const dockerfile = readFileSync(join(packageRoot, 'docker', 'Dockerfile'), 'utf8');

t.test('every stage runs on Node 24 LTS, the reference runtime', async (t) => {
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  t.ok(froms.length >= 2);
  for (const f of froms) t.match(f, /^node:24-/);
});

t.test('the data dir exists and belongs to the user the gateway runs as', async (t) => {
  const user = /^USER (\S+)/m.exec(dockerfile)?.[1];
  t.equal(user, 'node');
  const entry = /^ENTRYPOINT (\[.*?\])\s*$/ms.exec(dockerfile)?.[1]?.replace(/\\\n/g, '');
  const argv = JSON.parse(entry!) as string[];
  const dataDir = argv[argv.indexOf('--data-dir') + 1]!;
  t.match(dockerfile, new RegExp(`^RUN mkdir -p ${dataDir} && chown ${user}:${user} ${dataDir}$`, 'm'));
  t.ok(dockerfile.indexOf('chown') < dockerfile.indexOf('USER node'), 'chown runs as root, before USER');
  t.match(dockerfile, new RegExp(`^VOLUME \\["${dataDir}"\\]`, 'm'));
});

t.test('the health check probes /healthz on the admin port the entrypoint binds', async (t) => {
  const entry = /^ENTRYPOINT (\[.*?\])\s*$/ms.exec(dockerfile)?.[1]?.replace(/\\\n/g, '');
  const argv = JSON.parse(entry!) as string[];
  const adminPort = argv[argv.indexOf('--admin') + 1]!.split(':').pop();
  const check = /^HEALTHCHECK [^\n]*\\\n\s*CMD (.*)$/m.exec(dockerfile)?.[1];
  t.ok(check, 'a HEALTHCHECK');
  t.match(check!, `http://127.0.0.1:${adminPort}/healthz`);
  t.match(dockerfile, new RegExp(`^EXPOSE [^\\n]*\\b${adminPort}\\b`, 'm'));
});
