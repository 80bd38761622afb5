// The audit log: one JSON object per line (who, when, what, why), appended, never rewritten, mode 0600.
// The incident store writes its changes here (src/incident/store.ts) and captures theirs (src/tee/
// capture-audit.ts), to the same file (`${incidents.dir}/audit.log`, default `${dataDir}/incidents`), so
// an operator reads one history. Every line has `time`, `action`, `scope` (a tenant or "_all"), `by`
// and `reason`; the rest depends on the action.
//
// Tamper evidence: a hash chain. Every line carries `seq` (1, 2, … over the whole history) and `prev`,
// the SHA-256 of the previous line's bytes (without its newline; 64 zeros before the first line), so an
// edited, removed, inserted or reordered line breaks the chain at the line after it, which
// `stella telemetry audit verify DIR` names. When audit.log passes ROTATE_BYTES it is renamed to
// `audit-<seq of its first line>.log` and the chain goes on in a new audit.log. What a chain cannot
// show by itself is the removal of its newest lines (nothing follows them): ship the log elsewhere (or
// note the last `seq`) to cover that.
//
// Writers are the gateway and `stella telemetry capture` (another process), so an append holds a lock
// file (`audit.log.lock`, created exclusively) while it reads the last line and appends the next.
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, fstatSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const AUDIT_FILE = 'audit.log';
export const GENESIS = '0'.repeat(64);
/** audit.log is rotated once it is this large. */
export const ROTATE_BYTES = 16 * 1024 * 1024;
const ROTATED_RE = /^audit-(\d{12})\.log$/;
const LOCK_WAIT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

/** The audit log of a data dir when incidents.dir is not set (incidentStoreConfig gives the configured one). */
export function defaultAuditFile(dataDir: string): string {
  return join(dataDir, 'incidents', AUDIT_FILE);
}

/** What every line has besides `time`, `seq` and `prev`; actions add their own fields. */
export interface AuditLine {
  action: string;
  scope: string;
  by: string;
  reason: string | null;
}

export const lineHash = (line: string): string => createHash('sha256').update(line, 'utf8').digest('hex');

/** The chain's files in order: rotated ones by their first seq, then audit.log. */
export function auditFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names.filter((n) => ROTATED_RE.test(n)).sort();
  return [...rotated, ...(names.includes(AUDIT_FILE) ? [AUDIT_FILE] : [])].map((n) => join(dir, n));
}

/** The last line of a file (audit lines are small: its last 64 KiB, else the whole file), or undefined. */
function lastLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    let span = Math.min(size, 64 * 1024);
    let text = '';
    for (;;) {
      const buf = Buffer.alloc(span);
      readSync(fd, buf, 0, span, size - span);
      text = buf.toString('utf8').replace(/\n$/, '');
      if (text.includes('\n') || span === size) break;
      span = size;
    }
    return text.slice(text.lastIndexOf('\n') + 1) || undefined;
  } finally {
    closeSync(fd);
  }
}

/** `prev` and `seq` for the next line: from the newest line of the chain (audit.log, else the newest rotated file). */
function chainHead(dir: string): { prev: string; seq: number } {
  const files = auditFiles(dir);
  for (let i = files.length - 1; i >= 0; i--) {
    const line = lastLine(files[i]!);
    if (line === undefined) continue;
    let seq = 0;
    try {
      seq = Number((JSON.parse(line) as { seq?: unknown }).seq) || 0;
    } catch {
      // A damaged last line: the chain continues from its bytes; verify reports the damage.
    }
    return { prev: lineHash(line), seq };
  }
  return { prev: GENESIS, seq: 0 };
}

function withLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock left by a process that died mid-append is stale after LOCK_STALE_MS.
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) unlinkSync(lock);
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`cannot lock ${file} (${lock} held for ${LOCK_WAIT_MS} ms)`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      /* already removed as stale */
    }
  }
}

/**
 * Appends one line, `time` first, chained to the line before it. Synchronous so that the line is
 * written before the action is answered; throws when it cannot be written (the caller counts and logs it).
 */
export function appendAudit<T extends AuditLine>(file: string, timeMs: number, record: T, options: { rotateBytes?: number } = {}): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  withLock(file, () => {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      /* a new log */
    }
    const head = chainHead(dir);
    if (size >= (options.rotateBytes ?? ROTATE_BYTES)) {
      const first = readFirstSeq(file) ?? head.seq;
      renameSync(file, join(dir, `audit-${String(first).padStart(12, '0')}.log`));
    }
    const line = JSON.stringify({ time: new Date(timeMs).toISOString(), seq: head.seq + 1, prev: head.prev, ...record });
    appendFileSync(file, line + '\n', { mode: 0o600 });
  });
}

function readFirstSeq(file: string): number | undefined {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const first = buf.toString('utf8', 0, n).split('\n', 1)[0]!;
    const seq = Number((JSON.parse(first) as { seq?: unknown }).seq);
    return Number.isFinite(seq) && seq > 0 ? seq : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export type AuditVerdict = { ok: true; lines: number; files: number; headSeq: number; headHash: string } | { ok: false; lines: number; problem: string };

/** Checks the whole chain under `dir`; the first break is named by file, line number and reason. */
export function verifyAuditLog(dir: string): AuditVerdict {
  const files = auditFiles(dir);
  let prev = GENESIS;
  let seq = 0;
  let lines = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) return { ok: false, lines, problem: `${file}: the last line is incomplete (a torn write, or the file was cut)` };
    const rows = text.length === 0 ? [] : text.slice(0, -1).split('\n');
    for (let i = 0; i < rows.length; i++) {
      const where = `${file}:${i + 1}`;
      let parsed: { seq?: unknown; prev?: unknown };
      try {
        parsed = JSON.parse(rows[i]!) as typeof parsed;
      } catch {
        return { ok: false, lines, problem: `${where}: not a JSON line (edited or damaged)` };
      }
      if (parsed.prev !== prev) {
        const before = i > 0 ? `${file}:${i}` : seq > 0 ? 'the last line of the previous file' : 'the start of the log';
        return {
          ok: false,
          lines,
          problem:
            parsed.seq === seq + 1
              ? `${where}: its prev hash does not match ${before}: that line was edited`
              : `${where}: seq ${String(parsed.seq)} follows seq ${seq}: lines were removed, inserted or reordered before it (or ${before} was edited)`,
        };
      }
      if (parsed.seq !== seq + 1) return { ok: false, lines, problem: `${where}: seq ${String(parsed.seq)} where ${seq + 1} was expected (the line was edited)` };
      prev = lineHash(rows[i]!);
      seq++;
      lines++;
    }
  }
  return { ok: true, lines, files: files.length, headSeq: seq, headHash: prev };
}
