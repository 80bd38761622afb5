// Values are attacker-controlled: every detector must stay linear on hostile input. Each detector runs
// on 100 KiB strings built to provoke backtracking (long runs of its own syntax with the last piece
// missing); the best of three runs must stay under the budget. The budget is loose on purpose (CI shares
// two cores with other test files): catastrophic backtracking on 100 KiB takes minutes, not seconds, and
// the linearity test below catches quadratic growth.
import t from 'tap';
import { DETECTORS, findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';

const SIZE = 100 * 1024;
const BUDGET_MS = 2000;
const rep = (seed: string, size: number): string => seed.repeat(Math.ceil(size / seed.length)).slice(0, size);

const SEEDS = [
  '4', '4 ', '4-', '4000 ', '1-', '1 ', '123-45-', '+1 ', '(415) ', // digit runs and groups
  'a@', 'a.a@', 'a@a.', '@a', // e-mail
  'eyJ.', 'eyJa', 'eyJa.eyJa', '%41eyJ', // JWT
  ':', 'a:', '1::', 'ffff:', '1.1:', // IPv6
  '1.', '1.1.1.', // IPv4
  '%41', '%3D', '%3Ftoken%3D', '?token=', 'a=', 'token=', '&password=x', // query and key=value
  'password:', 'password:"', '"password":"', '\\"password\\":\\"', '--password ', 'Cookie: ', // sensitive names
  '-', '-----BEGIN PRIVATE KEY-----', '-----BEGIN RSA PRIVATE KEY-----\\n', 'A', 'AB12 ', 'DE89 ', // PEM, base64, IBAN
  'AKIA', 'secret_access_key=', 'ghp_', 'github_pat_', 'xoxb-1-', 'xapp-1-', // tokens
  'Bearer ', 'Bearer+', 'Bearer .', 'Basic ', 'bearer ya29.', 'Bearer ya29.abcdefghijklmnopqrstuvwxyz ', '\\n', ' ', '\\', '"',
  'Basic dXNlcjpwYXNz ', '--password x ', 'password=x ', 'Cookie: a\n', 'a@example.com ', '4111111111111111 ', // many findings
];

/** Best of three, in CPU milliseconds (not wall time: on a shared machine a descheduled slice would look like growth). */
function best(fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    min = Math.min(min, (c.user + c.system) / 1000);
  }
  return min;
}

t.test('each detector, findSecrets and the prefilter stay linear on 100 KiB adversarial strings', async (t) => {
  let worst = 0;
  let worstWhat = '';
  for (const seed of SEEDS) {
    const small = rep(seed, 1024);
    const big = rep(seed, SIZE);
    const bytes = Buffer.from(big);
    const runs: [string, () => void][] = [
      ...DETECTORS.map((d): [string, () => void] => [d.category, () => d.find(big, [], undefined)]),
      ['findSecrets', () => findSecrets(big)],
      ['mayContainSecret', () => mayContainSecret(bytes, 0, bytes.length)],
    ];
    for (const [name, run] of runs) {
      // Warm up on a small input first, so the budget measures the algorithm, not the JIT.
      if (name === 'findSecrets') findSecrets(small);
      else if (name !== 'mayContainSecret') DETECTORS.find((d) => d.category === name)!.find(small, [], undefined);
      const ms = best(run);
      if (ms > worst) {
        worst = ms;
        worstWhat = `${name} on ${JSON.stringify(seed)}`;
      }
      if (ms > BUDGET_MS) t.fail(`${name} on ${JSON.stringify(seed)} x ${SIZE}: ${ms.toFixed(1)} ms`);
    }
  }
  t.comment(`slowest: ${worstWhat}, ${worst.toFixed(1)} ms for ${SIZE} characters`);
  t.ok(worst < BUDGET_MS, `worst case ${worst.toFixed(1)} ms < ${BUDGET_MS} ms`);
});

t.test('cost grows linearly: 4x the input costs far less than 16x the time', async (t) => {
  // A quadratic detector would take 16x as long on 4x the input; allow generous noise. The inputs are
  // large enough (100 KiB and 400 KiB) that a millisecond of GC or JIT cannot look like super-linear
  // growth; the floor covers inputs that take well under a millisecond either way.
  for (const seed of ['a@', '4 ', 'eyJa', ':', 'password:"', 'DE89 ', '-----BEGIN PRIVATE KEY-----']) {
    const small = rep(seed, SIZE);
    const big = rep(seed, SIZE * 4);
    findSecrets(small);
    const a = best(() => findSecrets(small));
    const b = best(() => findSecrets(big));
    t.ok(b < Math.max(a * 10, 50), `${JSON.stringify(seed)}: ${a.toFixed(2)} ms -> ${b.toFixed(2)} ms`);
  }
});
