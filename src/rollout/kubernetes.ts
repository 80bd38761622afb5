// `stella telemetry deploy SRC --format kubernetes`: the same rollout as ConfigMap and Secret manifests
// for the cluster deployment (deploy/kubernetes/: the config ConfigMap `stella-gateway-config` with key
// config.yaml, the policies ConfigMap `stella-gateway-policies` mounted as a directory, Secrets by name).
// Kubernetes then does the atomic swap (AtomicWriter's `..data` symlink), which the gateway's watcher
// follows. With a key, the config gets `config.yaml.sigstore.json` and the policies a signed manifest
// (`.stella-signed.json` and its bundle) as extra keys, so a gateway with --trust-key verifies them
// where they are mounted: mount stella-gateway-config as a directory (not subPath) to have the bundle
// beside config.yaml.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BUNDLE_SUFFIX, DIR_MANIFEST, DIR_MANIFEST_BUNDLE, listFiles, signDirectory, signFile } from '../trust/signed-files.js';
import { POLICIES_SUBDIR, type DeploySource } from './deploy-dir.js';

export const CONFIG_MAP_CONFIG = 'stella-gateway-config';
export const CONFIG_MAP_POLICIES = 'stella-gateway-policies';
/** The key the StatefulSet mounts as /etc/stella/config.yaml. */
export const CONFIG_KEY = 'config.yaml';
/** SRC/secrets/<secret name>/<key>: rendered as the Secret of that name (e.g. stella-gateway-tls/tls.crt). */
export const SECRETS_SUBDIR = 'secrets';

const LABELS = { 'app.kubernetes.io/name': 'stella-gateway' };
/** ConfigMap and Secret keys (https://kubernetes.io/docs/concepts/configuration/configmap/). */
const KEY_RE = /^[-._a-zA-Z0-9]+$/;
const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export async function renderKubernetes(src: DeploySource, options: { namespace?: string; privateKeyPem?: string; version?: string }): Promise<string> {
  // Signatures are made over a staged copy, named as the pods will see the files.
  const stage = mkdtempSync(join(tmpdir(), 'stella-k8s-'));
  try {
    const docs: unknown[] = [];
    const meta = (name: string) => ({
      name,
      ...(options.namespace && { namespace: options.namespace }),
      labels: LABELS,
      ...(options.version && { annotations: { 'stella.dev/config-version': options.version } }),
    });
    if (src.configName) {
      const dir = join(stage, 'config');
      mkdirSync(dir);
      cpSync(join(src.dir, src.configName), join(dir, CONFIG_KEY), { dereference: true });
      if (options.privateKeyPem !== undefined) await signFile(join(dir, CONFIG_KEY), options.privateKeyPem);
      docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(CONFIG_MAP_CONFIG), data: readFlat(dir) });
    }
    if (src.hasPolicies) {
      const dir = join(stage, 'policies');
      cpSync(join(src.dir, POLICIES_SUBDIR), dir, { recursive: true, dereference: true });
      for (const f of listFiles(dir)) {
        if (f.includes('/')) throw new Error(`${join(src.dir, POLICIES_SUBDIR, f)}: a ConfigMap holds one level of files; move it up or leave it out`);
        if (f.endsWith(BUNDLE_SUFFIX)) rmSync(join(dir, f));
      }
      if (options.privateKeyPem !== undefined) await signDirectory(dir, options.privateKeyPem);
      docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(CONFIG_MAP_POLICIES), data: readFlat(dir) });
    }
    const secretsDir = join(src.dir, SECRETS_SUBDIR);
    let secretNames: string[] = [];
    try {
      secretNames = readdirSync(secretsDir).filter((n) => statSync(join(secretsDir, n)).isDirectory()).sort();
    } catch {
      /* no secrets */
    }
    for (const name of secretNames) {
      if (!NAME_RE.test(name)) throw new Error(`${join(secretsDir, name)}: not a valid Secret name (lower-case letters, digits, "-" and ".")`);
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(readFlat(join(secretsDir, name), true))) data[k] = v;
      docs.push({ apiVersion: 'v1', kind: 'Secret', metadata: meta(name), type: 'Opaque', data });
    }
    return docs.map((d) => `---\n${stringify(d, { lineWidth: 0 })}`).join('');
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Every file of `dir` (one level) as key ─▶ text, or base64 for a Secret's `data`. */
function readFlat(dir: string, base64 = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    if (!KEY_RE.test(name)) throw new Error(`${path}: "${name}" is not a valid ConfigMap/Secret key`);
    const bytes = readFileSync(path);
    out[name] = base64 ? bytes.toString('base64') : bytes.toString('utf8');
  }
  return out;
}

// Names used by the deploy docs and tests.
export const SIGNATURE_KEYS = { config: CONFIG_KEY + BUNDLE_SUFFIX, manifest: DIR_MANIFEST, manifestBundle: DIR_MANIFEST_BUNDLE };

