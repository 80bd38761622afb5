// The gateway package of the kit, built from a small checkout on disk: it holds the compiled code, proto,
// policies and the lockfile's production packages (not dev ones, not what nothing loads at run time),
// declares them all bundled, and a node_modules that disagrees with the lockfile stops the build,
// naming the package.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { productionDependencies, writeGatewayPackage } from '../../src/kit/gateway-package.js';
import { buildKit } from '../../src/kit/kit-build.js';
import { verifyKitFile } from '../../src/kit/kit-verify.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { readTar } from '../../src/tee/tar.js';

function checkout(lockPackages: Record<string, unknown>, installed: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'stella-kit-pkg-'));
  const put = (rel: string, text: string) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  put('package.json', JSON.stringify({ name: 'gw', version: '1.2.3', type: 'module', bin: { stella: 'dist/src/cli/main.js' }, scripts: { prepare: 'tsc' }, dependencies: { a: '^1.0.0' }, devDependencies: { tap: '*' } }));
  put('package-lock.json', JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'gw' }, ...lockPackages } }));
  put('dist/src/cli/main.js', '#!/usr/bin/env node\n');
  put('dist/src/cli/main.js.map', '{}');
  put('dist/test/x.test.js', '');
  put('proto/x.proto', 'syntax = "proto3";\n');
  put('policies/redaction.yaml', 'rules: []\n');
  for (const [path, version] of Object.entries(installed)) {
    put(`${path}/package.json`, JSON.stringify({ name: path.split('node_modules/').pop(), version }));
    put(`${path}/index.js`, 'module.exports = 1;\n');
    put(`${path}/index.d.ts`, 'export {};\n');
    put(`${path}/index.js.map`, '{}');
    put(`${path}/LICENSE`, 'MIT\n');
  }
  return root;
}

t.test('the package holds the code and the production packages, all bundled', async (t) => {
  const root = checkout(
    {
      'node_modules/a': { version: '1.0.0' },
      'node_modules/a/node_modules/b': { version: '2.0.0' },
      'node_modules/tap': { version: '21.0.0', dev: true },
      'node_modules/nice-darwin': { version: '1.0.0', optional: true },
    },
    { 'node_modules/a': '1.0.0', 'node_modules/a/node_modules/b': '2.0.0', 'node_modules/tap': '21.0.0' },
  );
  const out = join(root, 'gw.tgz');
  const pkg = await writeGatewayPackage(root, out);
  t.match(pkg, { fileName: 'gw-1.2.3.tgz', dependencies: 2 });
  const entries = readTar(gunzipSync(readFileSync(out)));
  if (!entries.ok) throw new Error(entries.reason);
  t.same(entries.entries.map((e) => e.name), [
    'package/package.json',
    'package/dist/src/cli/main.js',
    'package/node_modules/a/LICENSE',
    'package/node_modules/a/index.js',
    'package/node_modules/a/node_modules/b/LICENSE',
    'package/node_modules/a/node_modules/b/index.js',
    'package/node_modules/a/node_modules/b/package.json',
    'package/node_modules/a/package.json',
    'package/policies/redaction.yaml',
    'package/proto/x.proto',
  ]);
  const manifest = JSON.parse(Buffer.from(entries.entries[0]!.data).toString('utf8'));
  t.same(manifest.bundleDependencies, ['a']);
  t.notOk('scripts' in manifest || 'devDependencies' in manifest, 'no lifecycle scripts, no dev dependencies');
  t.same(manifest.bin, { stella: 'dist/src/cli/main.js' });
});

t.test('a node_modules that disagrees with the lockfile stops the build, naming the package', async (t) => {
  t.throws(() => productionDependencies(checkout({ 'node_modules/a': { version: '1.0.0' } }, { 'node_modules/a': '1.0.1' })), {
    message: 'kit build: node_modules/a is 1.0.1 but package-lock.json says 1.0.0; run "npm ci" first',
  });
  t.throws(() => productionDependencies(checkout({ 'node_modules/a': { version: '1.0.0' } }, {})), {
    message: 'kit build: node_modules/a is in package-lock.json but not installed; run "npm ci" first',
  });
  const root = checkout({ 'node_modules/a': { version: '1.0.0' } }, { 'node_modules/a': '1.0.0' });
  symlinkSync('/etc/passwd', join(root, 'node_modules/a/passwd'));
  await t.rejects(writeGatewayPackage(root, join(root, 'gw.tgz')), { message: /^kit build: .*node_modules\/a\/passwd is a symbolic link; the package holds regular files only$/ });
});

t.test('the same checkout and key give a byte-identical kit, which verifies', async (t) => {
  const root = checkout({ 'node_modules/a': { version: '1.0.0' } }, { 'node_modules/a': '1.0.0' });
  const keys = generateSigningKeyPair();
  const one = await buildKit({ root, out: join(root, 'one.tar'), privateKeyPem: keys.privateKeyPem });
  const two = await buildKit({ root, out: join(root, 'two.tar'), privateKeyPem: keys.privateKeyPem });
  t.ok(readFileSync(one.path).equals(readFileSync(two.path)), 'byte-identical');
  t.same(one.manifest.files.map((f) => f.path), ['COMPLIANCE.md', 'README.txt', 'configs/airgap.yaml', 'configs/default.yaml', 'configs/forensic.yaml', 'install.sh', 'packages/gw-1.2.3.tgz', 'policies/redaction.yaml', 'tools/import-grafana.mjs']);
  t.match(verifyKitFile(one.path, keys.publicKeyPem), { ok: true, manifest: { gateway: { version: '1.2.3', package: 'packages/gw-1.2.3.tgz', bundledDependencies: 1 } } });
});
