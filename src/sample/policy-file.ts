// Reads policies/sampling.yaml ─▶ parse (YAML) ─▶ validate (policy-schema.ts) ─▶ compile (policy.ts).
// Errors name the file, the line and column where the YAML parser knows them, the path and the reason,
// in the form of the other policy files (src/policy/load.ts):
//   policies/sampling.yaml:7:18 rules[1].probability: expected a probability from 0 to 1, such as 0.1 (got 10)
// A missing file is the built-in default policy (keep errors and slow traces, 10 % of the rest); an
// unreadable file or one that does not parse is an error.
import { readYamlFile } from '../policy/load.js';
import { compileSampling, type CompiledSampling } from './policy.js';
import { DEFAULT_SAMPLING_FILE, validateSampling, type SamplingFile } from './policy-schema.js';

export type SamplingLoad = { ok: true; policy: CompiledSampling; file: SamplingFile; present: boolean } | { ok: false; errors: string[] };

/** Reads, validates and compiles `file` for the gateway profile; never throws. */
export function loadSamplingFile(file: string, profile: string): SamplingLoad {
  const read = readYamlFile(file, validateSampling);
  if (read.status === 'absent') return { ok: true, policy: compileSampling(DEFAULT_SAMPLING_FILE, profile), file: DEFAULT_SAMPLING_FILE, present: false };
  if (read.status === 'invalid') return { ok: false, errors: read.errors };
  return { ok: true, policy: compileSampling(read.value, profile), file: read.value, present: true };
}
