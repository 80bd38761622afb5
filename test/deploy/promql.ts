// Helpers shared by the dashboard and alert-rule tests: the metric names a PromQL expression reads, the
// metric names a running gateway exposes, and promtool (Debian's prometheus package; .ci/run installs it).
import { spawnSync } from 'node:child_process';

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/** Metric names an expression reads (recording-rule names, with ':', are left out). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings (label values, templates)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\[[^\]]*\]/g, ' ') // range selectors
    .replace(/\$\w+/g, ' '); // Grafana variables ($__rate_interval, $tenant)
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice(m.index! + word.length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(word.toLowerCase()) || word.includes(':')) continue;
    if (/^\d/.test(word) || !word.includes('_')) continue;
    names.add(word);
  }
  return [...names];
}

/** Series names a Prometheus text exposition declares (histograms and summaries with their suffixes). */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name! + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name! + s);
  }
  return names;
}

/** Runs promtool; a missing promtool fails with what to install. */
export function promtool(args: string[], cwd?: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is needed (apt-get install prometheus): ${r.error.message}`);
  return { status: r.status, output: r.stdout + r.stderr };
}
