// Which modules may import what (docs/architecture.md, "Which modules may import what"), checked by
// reading the import statements of every file under src/:
// - src/process/worker/ is the worker side: only it imports it. Code both threads use lives in
//   src/process/wire/. The pool names the worker's entry file (a path, not an import), and the
//   reference path (src/process/reference/, the fast path's oracle in tests and benches) applies the
//   worker's compiled rules; nothing else outside worker/ imports worker/ or reference/.
// - src/config/ depends on nothing heavy: from export/, receive/, process/ and tee/ it imports only the
//   leaf modules listed below, and nothing it loads at run time pulls in a transport, a server or the pool.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import t from 'tap';
import { packageRoot } from '../src/paths.js';

/** Leaf modules of other stages that src/config/ may import (each imports no stage itself). */
const CONFIG_LEAVES = ['src/export/export-url.ts', 'src/tee/zstd-support.ts'];
/** What the reference path may take from the worker side: the compiled rules it applies, as the worker does. */
const REFERENCE_MAY_IMPORT = ['src/process/worker/policy-rules.ts'];
/** The pool starts workers from this file (a URL, not an import). */
const WORKER_ENTRY = { from: 'src/process/pool.ts', to: 'src/process/worker/worker.ts' };
/** Packages and node modules config must never load: transports, servers, the worker pool, protobuf. */
const HEAVY = ['node:http2', 'node:http', 'node:https', 'node:net', 'node:tls', '@grpc/grpc-js', 'fastify', 'piscina', 'protobufjs'];

interface Edge {
  from: string;
  /** A path under src/ (`.ts`) for a relative import, else the package or node: name. */
  to: string;
  typeOnly: boolean;
  /** `new URL('…', import.meta.url)`: a file named, not loaded as a module. */
  url: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(packageRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function edgesOf(file: string): Edge[] {
  const text = readFileSync(join(packageRoot, file), 'utf8');
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean, url: boolean) => {
    const to = spec.startsWith('.') ? normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts') : spec;
    edges.push({ from: file, to, typeOnly, url });
  };
  // Static imports and re-exports (one statement may span lines), side-effect imports, dynamic imports.
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gms)) add(m[2]!, m[1] !== undefined, false);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) add(m[1]!, false, false);
  // Module files named by URL (a worker's entry); other URLs name data folders (e.g. the dashboards an
  // embedded script reads), which are no edge of the module graph.
  for (const m of text.matchAll(/new URL\(\s*'([^']+\.js)'\s*,\s*import\.meta\.url\s*\)/g)) add(m[1]!, false, true);
  return edges;
}

const files = sourceFiles('src');
const edges = files.flatMap(edgesOf);
const under = (dir: string) => (path: string) => path.startsWith(`${dir}/`);
const inWorker = under('src/process/worker');
const inReference = under('src/process/reference');
const show = (e: Edge) => `${e.from} → ${e.to}${e.url ? ' (URL)' : ''}`;

t.test('the scan sees the imports it checks', async (t) => {
  t.ok(files.length > 100, `${files.length} source files`);
  t.ok(edges.some((e) => e.from === 'src/process/worker/walk.ts' && e.to === 'src/process/wire/wire-reader.ts'), 'a multi-line import');
  t.ok(edges.some((e) => e.from === 'src/process/protocol.ts' && e.to === 'src/policy/compile.ts' && e.typeOnly), 'a type-only import');
  t.ok(edges.some((e) => e.from === WORKER_ENTRY.from && e.to === WORKER_ENTRY.to && e.url), "the pool's worker entry URL");
  for (const e of edges) if (e.to.startsWith('src/')) t.ok(files.includes(e.to), `${show(e)} resolves to a source file`);
});

t.test('only the worker side imports src/process/worker/', async (t) => {
  const bad = edges.filter((e) => inWorker(e.to) && !inWorker(e.from)).filter((e) => {
    if (e.url) return !(e.from === WORKER_ENTRY.from && e.to === WORKER_ENTRY.to);
    return !(inReference(e.from) && REFERENCE_MAY_IMPORT.includes(e.to));
  });
  t.same(bad.map(show), [], 'no file outside src/process/worker/ imports it (shared code belongs in src/process/wire/)');
  const reference = edges.filter((e) => inReference(e.to) && !inReference(e.from) && !inWorker(e.from));
  t.same(reference.map(show), [], 'the reference path is for tests and benches: no gateway module imports it');
});

t.test('src/process/wire/ is shared by both threads: it imports no stage', async (t) => {
  const allowed = (to: string) => under('src/process/wire')(to) || to === 'src/process/protocol.ts' || to === 'src/signals.ts' || to === 'src/paths.ts' || !to.startsWith('src/');
  const bad = edges.filter((e) => under('src/process/wire')(e.from) && !allowed(e.to));
  t.same(bad.map(show), [], 'wire/ imports only wire/, protocol.ts, signals.ts, paths.ts and packages');
});

t.test('src/config/ depends on nothing heavy', async (t) => {
  const stages = ['src/export', 'src/receive', 'src/process', 'src/tee'].map(under);
  const bad = edges.filter((e) => under('src/config')(e.from) && stages.some((s) => s(e.to)) && !CONFIG_LEAVES.includes(e.to));
  t.same(bad.map(show), [], `from export/, receive/, process/ and tee/, config imports only ${CONFIG_LEAVES.join(', ')}`);

  // Everything config loads at run time (type-only imports are erased), followed through every module.
  const seen = new Set<string>();
  const heavy: string[] = [];
  const visit = (file: string, via: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const e of edges) {
      if (e.from !== file || e.typeOnly || e.url) continue;
      if (HEAVY.includes(e.to)) heavy.push(`${[...via, file].join(' → ')} → ${e.to}`);
      if (e.to.startsWith('src/')) visit(e.to, [...via, file]);
    }
  };
  for (const f of files.filter(under('src/config'))) visit(f, []);
  t.same(heavy, [], `config loads none of ${HEAVY.join(', ')}`);
  t.ok(seen.size < 40, `config loads ${seen.size} modules of the gateway`);
});
