// `stella telemetry deploy SRC --to DIR` and `deploy --rollback --to DIR`: rolls a reviewed config and
// policies out to a gateway's directory (src/rollout/deploy-dir.ts): validate for the target profile ─▶
// show the diff against what is deployed ─▶ sign (--key) ─▶ write a new version ─▶ swap `current` ─▶
// ask the gateway to reload its policies (--admin; its watcher also sees the swap) and name the settings
// that need a restart. `--format kubernetes` prints ConfigMap/Secret manifests instead.
// Exit codes: 0 deployed (or nothing to do, or a dry run), 1 invalid source or the gateway refused the
// new policies, 2 bad command line.
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { createAdminClient, ADMIN_FLAGS, ADMIN_FLAGS_HELP } from '../admin-client.js';
import { RELOAD_PATH } from '../../admin/reload-route.js';
import type { ReloadOutcome } from '../../policy/hot-reload.js';
import { activate, CURRENT_LINK, currentVersion, DEFAULT_KEEP, previousVersion, prune, readSource, versionSource, writeVersion, type DeploySource, type Version } from '../../rollout/deploy-dir.js';
import { renderKubernetes } from '../../rollout/kubernetes.js';
import { planChange, validateSource, type Plan } from '../../rollout/plan.js';
import { readPrivateKey, verifyManifest } from '../../trust/signed-files.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry deploy SRC --to DIR [--profile P] [--key KEY.pem] [--dry-run] [--admin URL]
       stella telemetry deploy --rollback --to DIR [--dry-run] [--admin URL]
       stella telemetry deploy SRC --format kubernetes [--key KEY.pem] [--namespace NS]

Rolls a reviewed configuration out to the directory a gateway runs from. SRC holds stella.yaml (or
config.yaml) and/or policies/. The deploy:
  1. validates SRC for the target profile (config and every policy file, as the gateway loads them);
  2. prints what changes against the deployed version: files, settings (need a restart), policy rules;
  3. signs the new version with --key (a signed manifest of every file: "serve --trust-key" checks it);
  4. writes it as DIR/.versions/NNNN-<digest> and swaps the symlink DIR/${CURRENT_LINK} to it, so the
     gateway reads the old set or the new one, never a mix (run it with --config DIR/stella.yaml and
     policiesDir DIR/policies: both are links through ${CURRENT_LINK});
  5. asks the gateway to reload its policies (POST /admin/v1/reload with --admin; its file watcher
     follows the swap too) and names the settings that need a restart.
The ${DEFAULT_KEEP} newest versions are kept; --rollback points ${CURRENT_LINK} at the one before.

Options:
  --to DIR             the deploy directory (created on the first deploy)
  --profile P          validate and compare for this profile (default: the config's own)
  --key KEY.pem        sign the version (private key from "stella telemetry keys init")
  --dry-run            print what would change; write nothing
  --rollback           go back to the previous version
  --keep N             versions to keep (default ${DEFAULT_KEEP}; the current one always stays)
  --format kubernetes  print ConfigMap/Secret manifests for deploy/kubernetes instead (kubectl apply -f -)
  --namespace NS       the manifests' namespace (with --format kubernetes)
${ADMIN_FLAGS_HELP}
  -h, --help           show this help`;

const options = {
  to: { type: 'string' },
  profile: { type: 'string' },
  key: { type: 'string' },
  'dry-run': { type: 'boolean' },
  rollback: { type: 'boolean' },
  keep: { type: 'string' },
  format: { type: 'string' },
  namespace: { type: 'string' },
  ...ADMIN_FLAGS,
  help: { type: 'boolean', short: 'h' },
} as const;

function printPlan(plan: Plan, from: string, to: string): void {
  if (!plan.changed) {
    stdio.out(`no change: ${to} has the same files as ${from}`);
    return;
  }
  stdio.out(`${from} → ${to}:`);
  stdio.out(`files (${plan.files.length}):`);
  for (const f of plan.files) stdio.out(`  ${f}`);
  if (plan.settings.length > 0) {
    stdio.out(`settings (${plan.settings.length}; applied at the next restart):`);
    for (const s of plan.settings) stdio.out(`  ${s}`);
  }
  if (plan.rules.length > 0) {
    stdio.out(`policy rules (${plan.rules.length}; hot-reloaded):`);
    for (const r of plan.rules) stdio.out(`  ${r}`);
  }
}

/** POST /admin/v1/reload; true when every store took the files (or no --admin was given). */
async function tellGateway(values: { admin?: string; token?: string }, restartPaths: string[]): Promise<boolean> {
  let ok = true;
  if (values.admin === undefined) {
    stdio.out(`policies: a running gateway's watcher reloads them (follows the ${CURRENT_LINK} swap); or send it SIGHUP, or pass --admin URL`);
  } else {
    const client = createAdminClient({ admin: values.admin, ...(values.token !== undefined && { token: values.token }) });
    const r = await client.request<Record<string, ReloadOutcome>>('POST', RELOAD_PATH);
    if (!r.ok) {
      stdio.err(`stella telemetry deploy: could not ask the gateway to reload: ${r.message}; its file watcher still follows the swap (or send SIGHUP)`);
      ok = false;
    } else {
      for (const [store, o] of Object.entries(r.body)) {
        if (o.status === 'ok') stdio.out(`gateway: ${store} version ${o.version}${o.changed ? ' active' : ' (unchanged)'}`);
        else {
          ok = false;
          stdio.err(`gateway: ${store} REFUSED; the last good version ${o.version ?? '(none)'} stays active:`);
          for (const e of o.errors.slice(0, 10)) stdio.err(`  ${e}`);
        }
      }
    }
  }
  if (restartPaths.length > 0) {
    stdio.out(`restart needed for ${restartPaths.length} setting${restartPaths.length === 1 ? '' : 's'} (the gateway reads its config once): ${restartPaths.join(', ')}`);
  }
  return ok;
}

export const deployCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (values.format !== undefined && values.format !== 'kubernetes') throw new UsageError(`--format: expected kubernetes (got ${JSON.stringify(values.format)})`);
    const keep = values.keep === undefined ? DEFAULT_KEEP : /^\d{1,3}$/.test(values.keep) && Number(values.keep) >= 1 ? Number(values.keep) : NaN;
    if (Number.isNaN(keep)) throw new UsageError(`--keep: expected a number of versions from 1 to 999 (got ${JSON.stringify(values.keep)})`);
    let privateKeyPem: string | undefined;
    if (values.key !== undefined) {
      try {
        privateKeyPem = readPrivateKey(values.key);
      } catch (err) {
        stdio.err(`stella telemetry deploy: cannot use private key ${values.key}: ${(err as Error).message}`);
        return 1;
      }
    }

    if (values.rollback) {
      if (positionals.length > 0) throw new UsageError('--rollback takes no SRC (it goes back to the previous deployed version)');
      if (!values.to) throw new UsageError('--to DIR is required');
      const target = values.to;
      const current = currentVersion(target);
      if (!current) {
        stdio.err(`stella telemetry deploy: ${target} has no deployed version to roll back from`);
        return 1;
      }
      const prev = previousVersion(target);
      if (!prev) {
        stdio.err(`stella telemetry deploy: ${target}: ${current.id} is the oldest version kept; nothing to roll back to`);
        return 1;
      }
      const from = versionSource(current);
      const to = versionSource(prev);
      const plan = planChange(from, to, validateSource(to, values.profile).profile);
      printPlan(plan, current.id, prev.id);
      if (values['dry-run']) {
        stdio.out(`dry run: would point ${join(target, CURRENT_LINK)} at ${prev.id}`);
        return 0;
      }
      activate(target, prev, to);
      stdio.out(`rolled back: ${join(target, CURRENT_LINK)} → ${prev.id} (was ${current.id})`);
      return (await tellGateway(values, plan.restartPaths)) ? 0 : 1;
    }

    if (positionals.length !== 1) throw new UsageError(`expected one SRC directory (got ${positionals.length})`);
    const src = readSource(positionals[0]!);
    if ('error' in src) {
      stdio.err(`stella telemetry deploy: ${src.error}`);
      return 1;
    }
    const validation = validateSource(src, values.profile);
    if (!validation.ok) {
      for (const e of validation.errors) stdio.err(e);
      stdio.err(`INVALID: ${src.dir} (profile ${validation.profile}); nothing deployed`);
      return 1;
    }

    if (values.format === 'kubernetes') {
      if (values.to !== undefined || values['dry-run']) throw new UsageError('--format kubernetes prints manifests; it takes no --to or --dry-run (pipe to kubectl apply --dry-run=server -f -)');
      process.stdout.write(await renderKubernetes(src, { ...(values.namespace && { namespace: values.namespace }), ...(privateKeyPem !== undefined && { privateKeyPem }) }));
      return 0;
    }
    if (!values.to) throw new UsageError('--to DIR is required (or --format kubernetes)');
    const target = values.to;
    const current = currentVersion(target);
    const deployed: DeploySource | undefined = current ? versionSource(current) : undefined;
    const plan = planChange(deployed, src, validation.profile);
    printPlan(plan, current?.id ?? '(nothing deployed)', src.dir);
    // Same files: nothing to do, unless this deploy signs a version deployed unsigned (or with another key).
    const signedAlready = (dir: string, pem: string): boolean => verifyManifest(dir, [createPublicKey(pem).export({ type: 'spki', format: 'pem' }) as string]).ok;
    if (!plan.changed && current && (privateKeyPem === undefined || signedAlready(current.dir, privateKeyPem))) {
      stdio.out(`already deployed: ${current.id}`);
      return 0;
    }
    if (values['dry-run']) {
      stdio.out(`dry run: would write a new version under ${join(target, '.versions')}${privateKeyPem ? ' (signed)' : ''} and point ${join(target, CURRENT_LINK)} at it`);
      return 0;
    }
    let version: Version;
    try {
      version = await writeVersion(target, src, privateKeyPem);
      activate(target, version, src);
    } catch (err) {
      stdio.err(`stella telemetry deploy: ${(err as Error).message}`);
      return 1;
    }
    const pruned = prune(target, keep);
    stdio.out(`deployed ${version.id}${privateKeyPem ? ' (signed)' : ''}: ${join(target, CURRENT_LINK)} → ${version.id}${current ? ` (was ${current.id}; roll back with --rollback)` : ''}`);
    if (pruned.length > 0) stdio.out(`pruned ${pruned.join(', ')} (keeping ${keep})`);
    return (await tellGateway(values, plan.restartPaths)) ? 0 : 1;
  },
};
