// `stella telemetry dump PATH…`: what the gateway wrote, as OTLP/JSON, one request per line. Reads the
// file exporter's segments (`<dir>/<signal>/<tenant>/segment-N.pb`, length-delimited requests) and the
// forensic archive's segments (`<root>/<tenant>/<tier>/*.segz`, records carrying their signal), given as
// files or as directories to walk. A damaged record ends its file with a warning on stderr (exit 1);
// the records before it are printed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseSegment, tenantFromDirName } from '../../export/file-exporter.js';
import { protobufToOtlpJson } from '../../process/wire/otlp-json.js';
import { SIGNALS, type Signal } from '../../signals.js';
import { parseSegmentName } from '../../tee/layout.js';
import { readSegmentFile } from '../../tee/segment-format.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry dump [options] PATH...

Prints exported or archived telemetry as OTLP/JSON, one Export*ServiceRequest per line, in file order.
PATH is a file or a directory searched recursively for:
  segment-*.pb          the file exporter's segments (DATA_DIR/export/<signal>/<tenant>/)
  *.segz, *.segz.part   forensic archive segments (DATA_DIR/forensic/<tenant>/<tier>/; also .seg, .seg.gz)

Options:
  --signal S      only traces, metrics or logs
  --tenant T      only this tenant
  --limit N       stop after N requests
  --meta          wrap each line as {"signal","tenant","file","request"}
  -h, --help      show this help

Exit codes: 0 every file read whole, 1 a file was damaged or unreadable (reported on stderr), 2 usage.`;

const options = {
  signal: { type: 'string' },
  tenant: { type: 'string' },
  limit: { type: 'string' },
  meta: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A file the dump can read, with what its path says. */
type Source = { kind: 'export'; path: string; signal: Signal; tenant: string } | { kind: 'archive'; path: string; tenant: string };

const EXPORT_SEGMENT_RE = /^segment-\d+\.pb$/;

function sourceOf(path: string): Source | { error: string } | undefined {
  const name = basename(path);
  if (EXPORT_SEGMENT_RE.test(name)) {
    const signal = basename(dirname(dirname(path)));
    if (!(SIGNALS as readonly string[]).includes(signal)) {
      return { error: `${path}: cannot tell its signal: file exporter segments live in <dir>/<signal>/<tenant>/` };
    }
    return { kind: 'export', path, signal: signal as Signal, tenant: tenantFromDirName(basename(dirname(path))) };
  }
  if (parseSegmentName(name)) return { kind: 'archive', path, tenant: basename(dirname(dirname(path))) };
  return undefined;
}

/** Files under `path` the dump can read, in sorted (= time and sequence) order. */
function collect(path: string, out: Source[], problems: string[]): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    problems.push(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    return;
  }
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      const child = join(path, name);
      if (statSync(child, { throwIfNoEntry: false })?.isDirectory()) collect(child, out, problems);
      else {
        const s = sourceOf(child);
        if (s && !('error' in s)) out.push(s);
      }
    }
    return;
  }
  const s = sourceOf(path);
  if (s === undefined) problems.push(`${path}: not a file exporter segment (segment-N.pb) nor an archive segment (*.segz)`);
  else if ('error' in s) problems.push(s.error);
  else out.push(s);
}

export const dumpCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('expected at least one PATH (a segment file or a directory)');
    if (values.signal !== undefined && !(SIGNALS as readonly string[]).includes(values.signal)) {
      throw new UsageError(`--signal: expected traces, metrics or logs (got ${JSON.stringify(values.signal)})`);
    }
    const limit = values.limit === undefined ? Infinity : /^\d{1,9}$/.test(values.limit) ? Number(values.limit) : NaN;
    if (!(limit >= 1)) throw new UsageError(`--limit: expected a positive whole number (got ${JSON.stringify(values.limit)})`);

    const sources: Source[] = [];
    const problems: string[] = [];
    for (const p of positionals) collect(p, sources, problems);
    let printed = 0;
    const print = (signal: Signal, tenant: string, file: string, payload: Uint8Array): boolean => {
      if (printed >= limit) return false;
      if ((values.signal !== undefined && signal !== values.signal) || (values.tenant !== undefined && tenant !== values.tenant)) return true;
      const request = protobufToOtlpJson(signal, payload);
      stdio.out(JSON.stringify(values.meta ? { signal, tenant, file, request } : request));
      printed++;
      return true;
    };
    for (const s of sources) {
      if (printed >= limit) break;
      if (values.tenant !== undefined && s.tenant !== values.tenant) continue;
      try {
        if (s.kind === 'export') {
          if (values.signal !== undefined && s.signal !== values.signal) continue;
          const parsed = parseSegment(readFileSync(s.path), s.path, s.tenant);
          for (const r of parsed.records) if (!print(s.signal, s.tenant, s.path, r.body)) break;
          if (parsed.truncated) problems.push(`${s.path}: record at byte ${parsed.truncated.offset} is cut short (${parsed.truncated.presentBytes} bytes present); the rest of the file is skipped`);
        } else {
          const decoded = readSegmentFile(s.path);
          for (const r of decoded.records) if (!print(r.signal, s.tenant, s.path, r.payload)) break;
          if (!decoded.ok) problems.push(`${s.path}: ${decoded.reason} at byte ${decoded.offset}; the rest of the file is skipped`);
        }
      } catch (err) {
        problems.push(`${s.path}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    for (const p of problems) stdio.err(`stella telemetry dump: ${p}`);
    if (sources.length === 0 && problems.length === 0) stdio.err('stella telemetry dump: no segment files found');
    return problems.length > 0 ? 1 : 0;
  },
};
