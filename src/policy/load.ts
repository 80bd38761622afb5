// Reads a policies directory: redaction.yaml and allowlists.yaml ─▶ parse (YAML) ─▶ validate (schema.ts)
// ─▶ compile (compile.ts). Every error names the file, the line and column where the YAML parser knows
// them, the path and the reason:
//   policies/redaction.yaml:14:7 detectors.email.action: expected one of mask, hash, drop, truncate (got "erase")
// Fail closed: every file ends with `version: 1` (an empty, truncated or half-written file is refused),
// files and custom patterns are bounded (policy.* config), and a missing file is the shipped default at
// start-up but refused on a reload (the last good version stays active): see docs/guides/policy-safety.md.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../config/sections/policy.js';
import { defaultPoliciesDir } from '../paths.js';
import { listedInManifest, verifyFileBytes } from '../trust/signed-files.js';
import { compilePolicy, type CompiledPolicy, type PolicyFiles } from './compile.js';
import { formatPath, show, type PathSegment, type SchemaError, type Validated } from '../schema-check.js';
import { ALLOWLISTS_FILE, REDACTION_FILE, validateAllowlists, validateRedaction } from './schema.js';


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

/** Why a file was refused: the `reason` label of policy_file_rejections_total. */
export type RejectReason = 'missing' | 'empty' | 'incomplete' | 'unparsable' | 'invalid' | 'unreadable' | 'too_large' | 'signature';

/** A YAML file read, parsed and validated: absent, valid (with its raw bytes), or every error found. */
export type YamlFileRead<T> = { status: 'absent' } | { status: 'ok'; value: T; bytes: Buffer } | { status: 'invalid'; errors: string[]; reason: RejectReason };

/** The key that ends every policy file: it marks the file complete (and states the schema version). */
export const VERSION_KEY = 'version';
export const FILE_VERSION = 1;
const MARKER_HINT = `every policy file ends with the line "${VERSION_KEY}: ${FILE_VERSION}", which marks it complete (a half-written file lacks it); a file with only that line is an intentionally empty policy`;

export interface ReadOptions {
  /** Files larger than this are refused before they are parsed. */
  maxBytes?: number;
  /** Checked on the parsed document before the schema (cheap bounds such as a pattern count). */
  precheck?: (raw: unknown) => string | undefined;
  /**
   * Trusted public keys (PEM, config `trust.keys`): the bytes read must be signed by one of them (a
   * bundle beside the file or a signed directory manifest, src/trust/signed-files.ts), else the file
   * is refused with reason `signature`, before it is parsed. A missing file that a signed manifest
   * lists is refused too (deleting a file must not let a default take over).
   */
  trustKeys?: readonly string[];
}

/**
 * Reads `file` and validates it; never throws. Errors read `file:line:col path: reason` where the YAML
 * parser knows the position. A missing file (or directory) is `absent`: each caller says what that means.
 *
 * Fail closed against half-written files: an empty file (no content but comments and blanks) is refused,
 * and so is a file whose last top-level key is not `version: 1`. An editor or a `cp` that writes the
 * file in place passes through every prefix of it; a prefix that happens to parse (it ends on a line
 * boundary) has lost its last line, the marker, so it can never be mistaken for a policy with fewer rules.
 */
export function readYamlFile<T>(file: string, validate: (raw: unknown) => Validated<T>, what = 'policy file', opts: ReadOptions = {}): YamlFileRead<T> {
  let bytes: Buffer;
  try {
    if (opts.maxBytes !== undefined) {
      const size = statSync(file).size;
      if (size > opts.maxBytes) return { status: 'invalid', reason: 'too_large', errors: [`${file}: the ${what} has ${size} bytes, more than the limit of ${opts.maxBytes} (policy.maxFileBytes)`] };
    }
    bytes = readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') {
      if (opts.trustKeys?.length && listedInManifest(file, opts.trustKeys)) {
        return { status: 'invalid', reason: 'signature', errors: [`${file}: missing, but listed in the signed manifest of its directory: restore it`] };
      }
      return { status: 'absent' };
    }
    return { status: 'invalid', reason: 'unreadable', errors: [`${file}: cannot read the ${what}: ${e.code === 'EISDIR' ? 'is a directory' : e.message}`] };
  }
  // The file may have grown between stat and read.
  if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
    return { status: 'invalid', reason: 'too_large', errors: [`${file}: the ${what} has ${bytes.length} bytes, more than the limit of ${opts.maxBytes} (policy.maxFileBytes)`] };
  }
  // The signature covers these bytes, the ones parsed below (no window for a swap between check and use).
  if (opts.trustKeys?.length) {
    const v = verifyFileBytes(file, bytes, opts.trustKeys);
    if (!v.ok) return { status: 'invalid', reason: 'signature', errors: [`${v.message}; the ${what} is refused (trust.keys)`] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(bytes.toString('utf8'), { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      status: 'invalid',
      reason: 'unparsable',
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${file}:${line}:${col} ${e.message.split('\n')[0]}`;
      }),
    };
  }
  const marker = checkMarker(file, doc, lineCounter, bytes.length);
  if (marker) return { status: 'invalid', ...marker };
  const raw = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  delete raw[VERSION_KEY];
  const tooBig = opts.precheck?.(raw);
  if (tooBig !== undefined) return { status: 'invalid', reason: 'too_large', errors: [`${file}: ${tooBig}`] };
  const result = validate(raw);
  if (result.ok) return { status: 'ok', value: result.value, bytes };
  return { status: 'invalid', reason: 'invalid', errors: result.errors.map((e) => formatError(file, doc, lineCounter, e)) };
}

/** The end marker: the document is a mapping whose last key is `version: 1`. */
function checkMarker(file: string, doc: Document, lineCounter: LineCounter, size: number): { reason: RejectReason; errors: string[] } | undefined {
  const top = doc.contents;
  if (top === null || top === undefined || (isMap(top) && top.items.length === 0 && !top.flow)) {
    return { reason: 'empty', errors: [`${file}: empty file (${size} bytes, no content): ${MARKER_HINT}`] };
  }
  // Not a mapping: the schema says so ("expected a mapping at the top level").
  if (!isMap(top)) return undefined;
  const keyOf = (i: number): string => String((top.items[i]?.key as { value?: unknown } | null)?.value);
  const at = top.items.findIndex((_, i) => keyOf(i) === VERSION_KEY);
  if (at < 0) return { reason: 'incomplete', errors: [`${file}: no "${VERSION_KEY}: ${FILE_VERSION}" line at the end (incomplete or written before the marker existed): ${MARKER_HINT}`] };
  const pair = top.items[at]!;
  const where = (node: unknown): string => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (!range) return file;
    const { line, col } = lineCounter.linePos(range[0]);
    return `${file}:${line}:${col}`;
  };
  const value = (pair.value as { value?: unknown } | null)?.value;
  if (value !== FILE_VERSION) return { reason: 'invalid', errors: [`${where(pair.value ?? pair.key)} ${VERSION_KEY}: expected ${FILE_VERSION} (got ${show(value)})`] };
  if (at !== top.items.length - 1) {
    return { reason: 'invalid', errors: [`${where(pair.key)} ${VERSION_KEY}: must be the last key of the file (after "${keyOf(top.items.length - 1)}"): it marks the file complete`] };
  }
  return undefined;
}

function formatError(file: string, doc: Document, lineCounter: LineCounter, e: SchemaError): string {
  const pos = locate(doc, lineCounter, e.path, e.atKey === true);
  const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
  return e.path.length > 0 ? `${where} ${formatPath(e.path)}: ${e.message}` : `${where} ${e.message}`;
}

/** Where start-up finds a file missing from the policies directory: the package's own policies/. */
export type MissingFiles = 'defaults' | 'refuse';

export interface LoadOptions {
  /**
   * A missing file (or directory): `defaults` (start-up, `policy validate`) takes the shipped file of
   * the same name from `defaultsDir`; `refuse` (a reload after a good load) rejects it, so a deleted
   * file or a directory renamed away keeps the last good version.
   */
  missing?: MissingFiles;
  /** Files refused when missing whatever `missing` says: those the last good version was loaded from. */
  required?: readonly string[];
  limits?: PolicyLimits;
  /** The shipped defaults; the package's policies/ unless a test says otherwise. */
  defaultsDir?: string;
  /** Trusted public keys (PEM): every file read must be signed by one (ReadOptions.trustKeys). */
  trustKeys?: readonly string[];
}

export interface FileRejection {
  file: string;
  reason: RejectReason;
}

/** Counts custom patterns and their bytes over the top level and every override, before the schema runs. */
export function patternBounds(raw: unknown, limits: PolicyLimits): string | undefined {
  let count = 0;
  let bytes = 0;
  const add = (rules: unknown): void => {
    const custom = (rules as { custom?: unknown } | null)?.custom;
    if (typeof custom !== 'object' || custom === null) return;
    for (const spec of Object.values(custom)) {
      count++;
      const re = (spec as { regex?: unknown } | null)?.regex;
      if (typeof re === 'string') bytes += Buffer.byteLength(re);
    }
  };
  add(raw);
  for (const section of ['tenants', 'profiles']) {
    const m = (raw as Record<string, unknown> | null)?.[section];
    if (typeof m === 'object' && m !== null) for (const o of Object.values(m)) add(o);
  }
  if (count > limits.maxCustomPatterns) return `${count} custom patterns, more than the limit of ${limits.maxCustomPatterns} (policy.maxCustomPatterns)`;
  if (bytes > limits.maxPatternBytes) return `${bytes} bytes of custom patterns, more than the limit of ${limits.maxPatternBytes} (policy.maxPatternBytes)`;
  return undefined;
}

export type OneFile<T> = { ok: true; value: T; present: boolean; from: string } | { ok: false; errors: string[]; rejection: FileRejection };

/** One policy file of `dir`, with the missing-file rule of `opts` applied. */
export function readPolicyFile<T>(
  dir: string,
  name: string,
  validate: (raw: unknown) => Validated<T>,
  opts: LoadOptions & { what?: string; precheck?: ReadOptions['precheck'] } = {},
): OneFile<T> {
  const limits = opts.limits ?? DEFAULT_POLICY_LIMITS;
  const read1 = (file: string, trusted: boolean): YamlFileRead<T> =>
    readYamlFile(file, validate, opts.what, { maxBytes: limits.maxFileBytes, ...(opts.precheck ? { precheck: opts.precheck } : {}), ...(trusted && opts.trustKeys ? { trustKeys: opts.trustKeys } : {}) });
  const file = join(dir, name);
  const read = read1(file, true);
  if (read.status === 'ok') return { ok: true, value: read.value, present: true, from: file };
  if (read.status === 'invalid') return { ok: false, errors: read.errors, rejection: { file, reason: read.reason } };
  if (opts.missing === 'refuse' || opts.required?.includes(name)) {
    return {
      ok: false,
      errors: [`${file}: missing (deleted, or its directory moved away): restore it, or write "${VERSION_KEY}: ${FILE_VERSION}" alone for an empty policy`],
      rejection: { file, reason: 'missing' },
    };
  }
  const shipped = join(opts.defaultsDir ?? defaultPoliciesDir, name);
  if (resolve(shipped) === resolve(file)) {
    return { ok: false, errors: [`${file}: missing, and it is the package's own default: restore it or reinstall the package`], rejection: { file, reason: 'missing' } };
  }
  // The shipped default is part of the installed package, not of the signed set: not checked.
  const fallback = read1(shipped, false);
  if (fallback.status === 'ok') return { ok: true, value: fallback.value, present: false, from: shipped };
  const errors = fallback.status === 'invalid' ? fallback.errors : [`${shipped}: missing`];
  return { ok: false, errors: [`${file}: missing, and the shipped default cannot be used:`, ...errors], rejection: { file, reason: 'missing' } };
}

export type PolicyLoad = { ok: true; files: PolicyFiles; present: string[]; defaulted: string[] } | { ok: false; errors: string[]; rejected: FileRejection[] };
export type PolicyCompile =
  | { ok: true; policy: CompiledPolicy; files: PolicyFiles; present: string[]; defaulted: string[] }
  | { ok: false; errors: string[]; rejected: FileRejection[] };

/** Parses and validates both files of `dir`; all errors of both files at once. */
export function loadPolicyFiles(dir: string, opts: LoadOptions = {}): PolicyLoad {
  const limits = opts.limits ?? DEFAULT_POLICY_LIMITS;
  const r = readPolicyFile(dir, REDACTION_FILE, validateRedaction, { ...opts, precheck: (raw) => patternBounds(raw, limits) });
  const a = readPolicyFile(dir, ALLOWLISTS_FILE, validateAllowlists, opts);
  if (!r.ok || !a.ok) {
    const failed = [r, a].flatMap((x) => (x.ok ? [] : [x]));
    return { ok: false, errors: failed.flatMap((x) => x.errors), rejected: failed.map((x) => x.rejection) };
  }
  const both = [
    [REDACTION_FILE, r],
    [ALLOWLISTS_FILE, a],
  ] as const;
  return {
    ok: true,
    files: { redaction: r.value, allowlists: a.value },
    present: both.filter(([, x]) => x.present).map(([n]) => n),
    defaulted: both.filter(([, x]) => !x.present).map(([, x]) => x.from),
  };
}

/** loadPolicyFiles + compilePolicy for one gateway profile. */
export function loadPolicy(dir: string, profile: string, opts: LoadOptions = {}): PolicyCompile {
  const loaded = loadPolicyFiles(dir, opts);
  if (!loaded.ok) return loaded;
  return { ok: true, policy: compilePolicy(loaded.files, profile), files: loaded.files, present: loaded.present, defaulted: loaded.defaulted };
}
