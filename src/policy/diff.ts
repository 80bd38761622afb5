// What would change between two compiled policies, as readable lines for `stella telemetry policy diff`:
//   + [default] redaction.custom.order-ref: /ORD-\d{8}/ → hash (key from $STELLA_HASH_KEY)
//   - [tenant acme] allowlists.serviceNames: "legacy-*"
//   ~ [default] redaction.detectors.email: mask → hash (key from $STELLA_HASH_KEY)
// Each effective view is flattened into rule id → description, and the two maps are compared; a tenant
// known to one side only is compared with the other side's defaults (what that tenant gets there).
import { SIGNALS } from '../signals.js';
import { policyFor, type Action, type CompiledPolicy, type EffectivePolicy } from './compile.js';

export function describeAction(a: Action): string {
  switch (a.type) {
    case 'mask':
      return a.keepPrefix === 0 && a.keepSuffix === 0 ? 'mask' : `mask (keep ${a.keepPrefix} first, ${a.keepSuffix} last)`;
    case 'hash':
      return `hash (key from $${a.hashKeyEnv})`;
    case 'drop':
      return 'drop';
    case 'truncate':
      return `truncate to ${a.maxLength}`;
  }
}

/** rule id → what it does, for one effective view. */
export function flattenPolicy(p: EffectivePolicy): Map<string, string> {
  const out = new Map<string, string>();
  const r = p.redaction;
  out.set('redaction.keys.mode', r.keyMode);
  for (const k of r.blockedKeys) out.set(`redaction.keys.blocked[${JSON.stringify(k.pattern)}]`, describeAction(k.action));
  for (const d of r.detectors) out.set(`redaction.detectors.${d.category}`, describeAction(d.action));
  for (const c of r.custom) out.set(`redaction.custom.${c.name}`, `/${c.regex}/${c.flags} → ${describeAction(c.action)}`);
  out.set('redaction.summaryAttribute', r.summaryAttribute ?? 'none');
  const list = (id: string, names: string[] | null) => {
    out.set(id, names === null ? 'any' : `only the listed names (${names.length})`);
    for (const n of names ?? []) out.set(`${id}[${JSON.stringify(n)}]`, 'allowed');
  };
  list('allowlists.metricNames', p.allowlists.metricNames);
  for (const s of SIGNALS) list(`allowlists.attributeKeys.${s}`, p.allowlists.attributeKeys[s]);
  list('allowlists.serviceNames', p.allowlists.serviceNames);
  return out;
}

function diffMaps(scope: string, a: Map<string, string>, b: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const id of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(id);
    const y = b.get(id);
    if (x === y) continue;
    if (x === undefined) lines.push(`+ [${scope}] ${id}: ${y}`);
    else if (y === undefined) lines.push(`- [${scope}] ${id}: ${x}`);
    else lines.push(`~ [${scope}] ${id}: ${x} → ${y}`);
  }
  return lines;
}

/**
 * The changes from `a` to `b`, one line each (empty: same effect). With `tenant`, only that tenant's
 * effective rules are compared; otherwise the defaults and every tenant either side names.
 */
export function diffPolicies(a: CompiledPolicy, b: CompiledPolicy, options: { tenant?: string } = {}): string[] {
  if (options.tenant !== undefined) {
    return diffMaps(`tenant ${options.tenant}`, flattenPolicy(policyFor(a, options.tenant)), flattenPolicy(policyFor(b, options.tenant)));
  }
  const lines = diffMaps('default', flattenPolicy(a.defaults), flattenPolicy(b.defaults));
  for (const t of [...new Set([...Object.keys(a.tenants), ...Object.keys(b.tenants)])].sort()) {
    lines.push(...diffMaps(`tenant ${t}`, flattenPolicy(policyFor(a, t)), flattenPolicy(policyFor(b, t))));
  }
  return lines;
}
