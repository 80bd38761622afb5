// Reads policies/sampling.yaml ─▶ parse (YAML) ─▶ validate (policy-schema.ts) ─▶ compile (policy.ts).
// Errors name the file, the line and column where the YAML parser knows them, the path and the reason,
// in the form of the other policy files (src/policy/load.ts):
//   policies/sampling.yaml:7:18 rules[1].probability: expected a probability from 0 to 1, such as 0.1 (got 10)
// A missing file is the built-in default policy (keep errors and slow traces, 10 % of the rest); an
// unreadable file or one that does not parse is an error.
// (locate/formatError follow src/policy/load.ts, which does not export them.)
import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { compileSampling, type CompiledSampling } from './policy.js';
import { DEFAULT_SAMPLING_FILE, formatPath, validateSampling, type PathSegment, type SamplingFile, type SchemaError } from './policy-schema.js';

export type SamplingLoad = { ok: true; policy: CompiledSampling; file: SamplingFile; present: boolean } | { ok: false; errors: string[] };

/** Where `path` sits in the document (the key itself for `atKey`), as 1-based line and column. */
function locate(doc: Document, lineCounter: LineCounter, path: readonly PathSegment[], atKey: boolean): { line: number; col: number } | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as { value?: unknown } | null;
        return k !== null && typeof k === 'object' && String(k.value) === String(seg);
      });
      if (!pair) break;
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      keyNode = undefined;
      node = node.items[seg];
    } else break;
  }
  const target = (atKey ? keyNode : node) ?? keyNode ?? node;
  const range = (target as { range?: [number, number, number] } | null)?.range;
  return range ? lineCounter.linePos(range[0]) : undefined;
}

function formatError(file: string, doc: Document, lineCounter: LineCounter, e: SchemaError): string {
  const pos = locate(doc, lineCounter, e.path, e.atKey === true);
  const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
  return e.path.length > 0 ? `${where} ${formatPath(e.path)}: ${e.message}` : `${where} ${e.message}`;
}

/** Reads, validates and compiles `file` for the gateway profile; never throws. */
export function loadSamplingFile(file: string, profile: string): SamplingLoad {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') {
      return { ok: true, policy: compileSampling(DEFAULT_SAMPLING_FILE, profile), file: DEFAULT_SAMPLING_FILE, present: false };
    }
    return { ok: false, errors: [`${file}: cannot read the policy file: ${e.code === 'EISDIR' ? 'is a directory' : e.message}`] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${file}:${line}:${col} ${e.message.split('\n')[0]}`;
      }),
    };
  }
  const result = validateSampling(doc.toJS({ maxAliasCount: 100 }));
  if (!result.ok) return { ok: false, errors: result.errors.map((e) => formatError(file, doc, lineCounter, e)) };
  return { ok: true, policy: compileSampling(result.value, profile), file: result.value, present: true };
}
