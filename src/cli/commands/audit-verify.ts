// `stella telemetry audit verify DIR`: checks the audit log's hash chain (src/incident/audit-log.ts)
// offline. Exit 0 when every line follows the one before it, 1 naming the first line that does not.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AUDIT_FILE, auditFiles, verifyAuditLog } from '../../incident/audit-log.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry audit verify DIR

Verifies the audit log in DIR (incidents.dir: ${AUDIT_FILE} and its rotated audit-<seq>.log files; a
data directory works too, its incidents/ is used): every line must carry the SHA-256 of the line before
it and the next sequence number, so an edited, removed, inserted or reordered line is found and named.
Removing the newest lines leaves no trace in the chain itself: compare the last seq printed here with
one noted elsewhere.

Options:
  -h, --help      show this help

Exit codes: 0 the chain is intact, 1 it is broken (the first break is printed), 2 usage.`;

const options = { help: { type: 'boolean', short: 'h' } } as const;

export const auditVerifyCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one DIR (got ${positionals.length})`);
    let dir = resolve(positionals[0]!);
    if (auditFiles(dir).length === 0 && existsSync(join(dir, 'incidents'))) dir = join(dir, 'incidents');
    if (auditFiles(dir).length === 0) {
      stdio.err(`stella telemetry audit verify: no audit log in ${dir}`);
      return 1;
    }
    const v = verifyAuditLog(dir);
    if (!v.ok) {
      stdio.err(`stella telemetry audit verify: BROKEN after ${v.lines} good line(s): ${v.problem}`);
      return 1;
    }
    stdio.out(`OK: ${v.lines} line(s) in ${v.files} file(s) chained; last seq ${v.headSeq}, head sha256 ${v.headHash}`);
    return 0;
  },
};
