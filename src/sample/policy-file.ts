// Reads policies/sampling.yaml ─▶ parse (YAML) ─▶ validate (policy-schema.ts) ─▶ compile (policy.ts).
// Errors name the file, the line and column where the YAML parser knows them, the path and the reason,
// in the form of the other policy files (src/policy/load.ts):
//   policies/sampling.yaml:7:18 rules[1].probability: expected a probability from 0 to 1, such as 0.1 (got 10)
// Fail closed like the other policy files (src/policy/load.ts): the file ends with `version: 1`, and
// is bounded by policy.maxFileBytes. A missing file at start-up is the built-in default policy (keep
// errors and slow traces, 10 % of the rest: the shipped policies/sampling.yaml); on a reload a missing
// file is refused and the last good policy keeps deciding.
import { DEFAULT_POLICY_LIMITS } from '../config/sections/policy.js';
import { readYamlFile, VERSION_KEY, FILE_VERSION, type FileRejection, type LoadOptions } from '../policy/load.js';
import { compileSampling, type CompiledSampling } from './policy.js';
import { DEFAULT_SAMPLING_FILE, validateSampling, type SamplingFile } from './policy-schema.js';

export type SamplingLoad = { ok: true; policy: CompiledSampling; file: SamplingFile; present: boolean } | { ok: false; errors: string[]; rejected: FileRejection[] };

/** Reads, validates and compiles `file` for the gateway profile; never throws. */
export function loadSamplingFile(file: string, profile: string, opts: Pick<LoadOptions, 'missing' | 'limits' | 'trustKeys'> = {}): SamplingLoad {
  const read = readYamlFile(file, validateSampling, 'sampling policy', { maxBytes: (opts.limits ?? DEFAULT_POLICY_LIMITS).maxFileBytes, ...(opts.trustKeys ? { trustKeys: opts.trustKeys } : {}) });
  if (read.status === 'absent' && opts.missing === 'refuse') {
    return { ok: false, errors: [`${file}: missing (deleted, or its directory moved away): restore it; the last good policy stays active`], rejected: [{ file, reason: 'missing' }] };
  }
  if (read.status === 'absent') return { ok: true, policy: compileSampling(DEFAULT_SAMPLING_FILE, profile), file: DEFAULT_SAMPLING_FILE, present: false };
  if (read.status === 'invalid') return { ok: false, errors: read.errors, rejected: [{ file, reason: read.reason }] };
  return { ok: true, policy: compileSampling(read.value, profile), file: read.value, present: true };
}
