// Builds a CompiledPolicy from plain redaction.yaml / allowlists.yaml content, for the process tests.
import { compilePolicy, type CompiledPolicy } from '../../../src/policy/compile.js';
import { validateAllowlists, validateRedaction } from '../../../src/policy/schema.js';

export function policyFrom(redaction: unknown, allowlists: unknown = {}, profile = 'default'): CompiledPolicy {
  const r = validateRedaction(redaction);
  const a = validateAllowlists(allowlists);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  if (!a.ok) throw new Error(JSON.stringify(a.errors));
  return compilePolicy({ redaction: r.value, allowlists: a.value }, profile);
}
