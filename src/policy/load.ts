// Reads a policies directory: redaction.yaml and allowlists.yaml ─▶ parse (YAML) ─▶ validate (schema.ts)
// ─▶ compile (compile.ts). Every error names the file, the line and column where the YAML parser knows
// them, the path and the reason:
//   policies/redaction.yaml:14:7 detectors.email.action: expected one of mask, hash, drop, truncate (got "erase")
// A missing directory or a missing file is an empty policy (nothing redacted, nothing filtered), so a
// gateway without policies runs; an unreadable file or a file that does not parse is an error.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { compilePolicy, EMPTY_FILES, type CompiledPolicy, type PolicyFiles } from './compile.js';
import { ALLOWLISTS_FILE, formatPath, REDACTION_FILE, validateAllowlists, validateRedaction, type PathSegment, type SchemaError, type Validated } from './schema.js';

export type PolicyLoad = { ok: true; files: PolicyFiles; present: string[] } | { ok: false; errors: string[] };
export type PolicyCompile = { ok: true; policy: CompiledPolicy; files: PolicyFiles; present: string[] } | { ok: false; errors: string[] };

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

/** A YAML file read, parsed and validated: absent, valid (with its raw bytes), or every error found. */
export type YamlFileRead<T> = { status: 'absent' } | { status: 'ok'; value: T; bytes: Buffer } | { status: 'invalid'; errors: string[] };

/**
 * Reads `file` and validates it; never throws. Errors read `file:line:col path: reason` where the YAML
 * parser knows the position. A missing file (or directory) is `absent`: each caller says what that means.
 */
export function readYamlFile<T>(file: string, validate: (raw: unknown) => Validated<T>, what = 'policy file'): YamlFileRead<T> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return { status: 'absent' };
    return { status: 'invalid', errors: [`${file}: cannot read the ${what}: ${e.code === 'EISDIR' ? 'is a directory' : e.message}`] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(bytes.toString('utf8'), { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      status: 'invalid',
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${file}:${line}:${col} ${e.message.split('\n')[0]}`;
      }),
    };
  }
  const result = validate(doc.toJS({ maxAliasCount: 100 }));
  if (result.ok) return { status: 'ok', value: result.value, bytes };
  return { status: 'invalid', errors: result.errors.map((e) => formatError(file, doc, lineCounter, e)) };
}

function readPolicyFile<T>(dir: string, name: string, validate: (raw: unknown) => Validated<T>): { value?: T; errors: string[]; present: boolean } {
  const read = readYamlFile(join(dir, name), validate);
  if (read.status === 'absent') return { errors: [], present: false };
  if (read.status === 'invalid') return { errors: read.errors, present: true };
  return { value: read.value, errors: [], present: true };
}

function formatError(file: string, doc: Document, lineCounter: LineCounter, e: SchemaError): string {
  const pos = locate(doc, lineCounter, e.path, e.atKey === true);
  const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
  return e.path.length > 0 ? `${where} ${formatPath(e.path)}: ${e.message}` : `${where} ${e.message}`;
}

/** Parses and validates both files of `dir`; all errors of both files at once. */
export function loadPolicyFiles(dir: string): PolicyLoad {
  const r = readPolicyFile(dir, REDACTION_FILE, validateRedaction);
  const a = readPolicyFile(dir, ALLOWLISTS_FILE, validateAllowlists);
  const errors = [...r.errors, ...a.errors];
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    files: { redaction: r.value ?? EMPTY_FILES.redaction, allowlists: a.value ?? EMPTY_FILES.allowlists },
    present: [...(r.present ? [REDACTION_FILE] : []), ...(a.present ? [ALLOWLISTS_FILE] : [])],
  };
}

/** loadPolicyFiles + compilePolicy for one gateway profile. */
export function loadPolicy(dir: string, profile: string): PolicyCompile {
  const loaded = loadPolicyFiles(dir);
  if (!loaded.ok) return loaded;
  return { ok: true, policy: compilePolicy(loaded.files, profile), files: loaded.files, present: loaded.present };
}
