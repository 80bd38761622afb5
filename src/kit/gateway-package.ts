// The gateway as one npm package that installs with no registry: `npm install --offline X.tgz`.
// It is what `npm pack` would make of the built gateway with every production dependency listed in
// `bundleDependencies` (https://docs.npmjs.com/cli/configuring-npm/package-json#bundledependencies):
// the tarball carries `package/node_modules/…`, so npm unpacks the dependencies from it and fetches
// nothing. It is built from the checkout's own files, never from the network: the compiled code
// (dist/src), proto/, policies/, and node_modules as package-lock.json describes it (the entries not
// marked `dev`). A node_modules that disagrees with the lockfile (another version, a missing package)
// stops the build, naming the package: the kit must hold what was reviewed and locked.
//
// Dependencies lose only what nothing loads at run time: type declarations (.d.ts/.d.mts/.d.cts),
// TypeScript sources (.ts/.mts/.cts) and source maps (.map): about a third of their files, which is
// most of the install's time at a site (npm writes every file). Licences, READMEs and code stay.
//
// The tarball is written by us (gzip of a ustar with sorted entries and a fixed mtime), not by
// spawning `npm pack`, so the same checkout gives the same bytes and the build needs no npm.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { tarEnd, tarHeader, tarPadding } from '../tee/tar.js';
import { KIT_MTIME_SEC } from './kit-tar.js';

interface PackageJson {
  name: string;
  version: string;
  description?: string;
  type?: string;
  license?: string;
  engines?: Record<string, string>;
  bin?: Record<string, string> | string;
  dependencies?: Record<string, string>;
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
}

export interface GatewayPackage {
  /** `stella-telemetry-gateway-0.1.0.tgz` */
  fileName: string;
  name: string;
  version: string;
  /** Files in the tarball, and how many of them are bundled dependencies'. */
  files: number;
  dependencies: number;
  /** Uncompressed bytes of the files. */
  unpackedBytes: number;
}

/** One file of the package: where it goes (under `package/`) and where it comes from. */
interface PackFile {
  name: string;
  source: string;
}

/** The package.json the tarball carries: the runtime fields of the checkout's, every dependency bundled, no scripts. */
export function packagedManifest(pkg: PackageJson): Buffer {
  const deps = pkg.dependencies ?? {};
  const out = {
    name: pkg.name,
    version: pkg.version,
    ...(pkg.description && { description: pkg.description }),
    ...(pkg.type && { type: pkg.type }),
    ...(pkg.license && { license: pkg.license }),
    ...(pkg.engines && { engines: pkg.engines }),
    ...(pkg.bin && { bin: pkg.bin }),
    dependencies: deps,
    bundleDependencies: Object.keys(deps).sort(),
  };
  return Buffer.from(`${JSON.stringify(out, null, 2)}\n`);
}

/** Every regular file under `dir` (sorted), skipping the subtrees `skip` says to; a symlink stops the build. */
function walk(dir: string, skip: (rel: string) => boolean, base = dir, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const rel = relative(base, full);
    if (skip(rel)) continue;
    const st = lstatSync(full);
    if (st.isSymbolicLink()) throw new Error(`kit build: ${full} is a symbolic link; the package holds regular files only`);
    if (st.isDirectory()) walk(full, skip, base, out);
    else if (st.isFile()) out.push(rel);
  }
  return out;
}

/** The production dependencies as the lockfile lists them, checked against node_modules. */
export function productionDependencies(root: string): { path: string; version: string }[] {
  const lockFile = join(root, 'package-lock.json');
  if (!existsSync(lockFile)) throw new Error(`kit build: ${lockFile} is missing; a kit is built from a checkout with its lockfile and node_modules ("npm ci")`);
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { lockfileVersion?: number; packages?: Record<string, LockEntry> };
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) throw new Error(`kit build: ${lockFile} has no "packages" section (lockfileVersion 2 or 3 needed)`);
  const deps: { path: string; version: string }[] = [];
  for (const [path, entry] of Object.entries(lock.packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (path === '' || entry.dev) continue;
    if (!path.startsWith('node_modules/')) throw new Error(`kit build: package-lock.json entry "${path}" is outside node_modules (workspaces are not supported)`);
    if (entry.link) throw new Error(`kit build: ${path} is a link in package-lock.json; the kit bundles installed packages only`);
    const dir = join(root, path);
    const pj = join(dir, 'package.json');
    if (!existsSync(pj)) {
      // An optional dependency for another platform (e.g. @napi-rs/nice-darwin-arm64) is not installed here.
      if (entry.optional) continue;
      throw new Error(`kit build: ${path} is in package-lock.json but not installed; run "npm ci" first`);
    }
    const installed = (JSON.parse(readFileSync(pj, 'utf8')) as { version?: string }).version;
    if (entry.version !== undefined && installed !== entry.version) {
      throw new Error(`kit build: ${path} is ${installed} but package-lock.json says ${entry.version}; run "npm ci" first`);
    }
    deps.push({ path, version: installed ?? '' });
  }
  return deps;
}

/** Dependency files nothing loads at run time (see the top of this file). */
const NOT_RUN = /\.(?:d\.[cm]?ts|[cm]?ts|map)$/;

function gatewayFiles(root: string): PackFile[] {
  const files: PackFile[] = [];
  const distSrc = join(root, 'dist', 'src');
  if (!existsSync(join(distSrc, 'cli', 'main.js'))) throw new Error(`kit build: ${distSrc} has no compiled gateway; run "npm run build" first`);
  for (const rel of walk(distSrc, () => false)) if (rel.endsWith('.js')) files.push({ name: `dist/src/${rel}`, source: join(distSrc, rel) });
  for (const dir of ['proto', 'policies']) for (const rel of walk(join(root, dir), () => false)) files.push({ name: `${dir}/${rel}`, source: join(root, dir, rel) });
  for (const f of ['README.md', 'stella.example.yaml']) if (existsSync(join(root, f))) files.push({ name: f, source: join(root, f) });
  return files;
}

/**
 * Writes the package tarball (gzip) to `out` and returns what it holds. `root` is the checkout
 * (package.json, package-lock.json, dist/, node_modules/).
 */
export async function writeGatewayPackage(root: string, out: string): Promise<GatewayPackage & { sha256: string; bytes: number }> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
  const deps = productionDependencies(root);
  const files = gatewayFiles(root);
  for (const d of deps) {
    // A package's own nested node_modules are lockfile entries of their own (bundled separately).
    for (const rel of walk(join(root, d.path), (r) => r === 'node_modules')) if (!NOT_RUN.test(rel)) files.push({ name: `${d.path}/${rel}`, source: join(root, d.path, rel) });
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const manifest = packagedManifest(pkg);
  let unpackedBytes = manifest.length;

  async function* tarPieces(): AsyncGenerator<Buffer> {
    yield tarHeader('package/package.json', manifest.length, KIT_MTIME_SEC);
    yield manifest;
    yield tarPadding(manifest.length);
    for (const f of files) {
      const data = readFileSync(f.source);
      if (data.length !== statSync(f.source).size) throw new Error(`kit build: ${f.source} changed while it was read`);
      unpackedBytes += data.length;
      yield tarHeader(`package/${f.name}`, data.length, KIT_MTIME_SEC);
      yield data;
      yield tarPadding(data.length);
    }
    yield tarEnd();
  }

  const hash = createHash('sha256');
  let bytes = 0;
  const sink = createWriteStream(out, { flags: 'wx', mode: 0o644 });
  await pipeline(Readable.from(tarPieces()), createGzip(), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  }, sink);
  return {
    fileName: `${pkg.name}-${pkg.version}.tgz`,
    name: pkg.name,
    version: pkg.version,
    files: files.length + 1,
    dependencies: deps.length,
    unpackedBytes,
    sha256: hash.digest('hex'),
    bytes,
  };
}
