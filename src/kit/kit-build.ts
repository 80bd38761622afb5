// `kit build`: assembles the offline kit from a built checkout, with no network: the gateway package
// (gateway-package.ts), a config per profile (validated here, so a kit never ships a config its own
// gateway refuses), the shipped policies, the dashboards and alert rules under deploy/ (where they
// exist), the install script, the Grafana import tool, a README and the compliance checklist; then the
// manifest of every file's SHA-256, signed with the offline key (the capture signer, src/tee/sign.ts).
// The kit is written to `<out>.tmp`, fsync'd and renamed, so a kit that exists is complete.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateConfig } from '../config/validate.js';
import { buildInfo } from '../telemetry/build-info.js';
import { createKeySigner, keyId, signArtifact } from '../tee/sign.js';
import { writeGatewayPackage } from './gateway-package.js';
import { buildKitManifest, encodeKitManifest, KIT_MANIFEST_NAME, KIT_SIGNATURE_NAME, type KitFile, type KitManifest } from './kit-manifest.js';
import { writeKitTar, type KitSource } from './kit-tar.js';
import { complianceChecklist, grafanaImportTool, installScript, kitReadme, PROFILES, profileConfig } from './kit-texts.js';

export interface KitBuildOptions {
  /** The built checkout: package.json, package-lock.json, dist/, node_modules/, policies/, deploy/. */
  root: string;
  out: string;
  privateKeyPem: string;
}

export interface BuiltKit {
  path: string;
  bytes: number;
  manifest: KitManifest;
  manifestSha256: string;
  packageFiles: number;
}

/** The kit's default file name for a version. */
export const kitFileName = (version: string) => `stella-kit-${version}.tar`;

function filesUnder(root: string, dir: string, into: string, keep: (name: string) => boolean): KitSource[] {
  const full = join(root, dir);
  if (!existsSync(full)) return [];
  return readdirSync(full)
    .filter((n) => keep(n) && statSync(join(full, n)).isFile())
    .sort()
    .map((n) => ({ name: `${into}/${n}`, data: readFileSync(join(full, n)) }));
}

export async function buildKit(options: KitBuildOptions): Promise<BuiltKit> {
  const { root, out } = options;
  const privateKey = createPrivateKey(options.privateKeyPem);
  const signerKeyId = keyId(createPublicKey(privateKey));
  const work = mkdtempSync(join(dirname(out), '.stella-kit-'));
  const tmp = `${out}.tmp`;
  try {
    const pkg = await writeGatewayPackage(root, join(work, 'package.tgz'));
    const { version } = pkg;
    const sources: KitSource[] = [
      { name: 'README.txt', data: Buffer.from(kitReadme(version, pkg.fileName)) },
      { name: 'COMPLIANCE.md', data: Buffer.from(complianceChecklist(version, signerKeyId)) },
      { name: 'install.sh', data: Buffer.from(installScript(version, pkg.fileName)) },
      { name: 'tools/import-grafana.mjs', data: Buffer.from(grafanaImportTool()) },
      { name: `packages/${pkg.fileName}`, file: join(work, 'package.tgz'), size: pkg.bytes },
    ];
    for (const profile of PROFILES) {
      const text = profileConfig(profile, version);
      const checked = validateConfig(parseYaml(text), `configs/${profile}.yaml`);
      if (!checked.ok) throw new Error(`kit build: the generated configs/${profile}.yaml does not validate: ${checked.errors.join('; ')}`);
      sources.push({ name: `configs/${profile}.yaml`, data: Buffer.from(text) });
    }
    sources.push(...filesUnder(root, 'policies', 'policies', () => true));
    sources.push(...filesUnder(root, join('deploy', 'grafana'), 'dashboards/grafana', (n) => n.endsWith('.json')));
    sources.push(...filesUnder(root, join('deploy', 'prometheus'), 'alerts/prometheus', (n) => /\.ya?ml$/.test(n)));
    if (!sources.some((s) => s.name.startsWith('policies/'))) throw new Error(`kit build: ${join(root, 'policies')} holds no policy files`);

    const files: KitFile[] = sources.map((s) => ({
      path: s.name,
      size: 'data' in s ? s.data.length : s.size,
      sha256: 'data' in s ? createHash('sha256').update(s.data).digest('hex') : pkg.sha256,
    }));
    const manifest = buildKitManifest(
      {
        gateway: { name: pkg.name, version, commit: buildInfo().commit, package: `packages/${pkg.fileName}`, bundledDependencies: pkg.dependencies },
        signerKeyId,
      },
      files,
    );
    const manifestBytes = encodeKitManifest(manifest);
    const bundle = await signArtifact(manifestBytes, createKeySigner(options.privateKeyPem));
    const ordered = [...sources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    rmSync(tmp, { force: true });
    const bytes = await writeKitTar(tmp, [
      { name: KIT_MANIFEST_NAME, data: manifestBytes },
      { name: KIT_SIGNATURE_NAME, data: Buffer.from(`${JSON.stringify(bundle, null, 2)}\n`) },
      ...ordered,
    ]);
    renameSync(tmp, out);
    return { path: out, bytes, manifest, manifestSha256: createHash('sha256').update(manifestBytes).digest('hex'), packageFiles: pkg.files };
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
