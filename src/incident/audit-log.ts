// The audit log: one JSON object per line (who, when, what, why), appended, never rewritten, mode 0600.
// The incident store writes its changes here (src/incident/store.ts) and captures theirs (src/tee/
// capture-audit.ts), to the same file (`${incidents.dir}/audit.log`, default `${dataDir}/incidents`), so
// an operator reads one history. Every line has `time`, `action`, `scope` (a tenant or "_all"), `by`
// and `reason`; the rest depends on the action.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const AUDIT_FILE = 'audit.log';

/** The audit log of a data dir when incidents.dir is not set (incidentStoreConfig gives the configured one). */
export function defaultAuditFile(dataDir: string): string {
  return join(dataDir, 'incidents', AUDIT_FILE);
}

/** What every line has besides `time`; actions add their own fields. */
export interface AuditLine {
  action: string;
  scope: string;
  by: string;
  reason: string | null;
}

/**
 * Appends one line, `time` first. Synchronous so that the line is written before the action is
 * answered; throws when it cannot be written (the caller counts and logs it).
 */
export function appendAudit<T extends AuditLine>(file: string, timeMs: number, record: T): void {
  const line = JSON.stringify({ time: new Date(timeMs).toISOString(), ...record }) + '\n';
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, line, { mode: 0o600 });
}
