// The kit's own text files: the install script, the per-profile configs, the Grafana import tool, the
// README and the compliance checklist. Pure functions of the version (and key id), so the kit is
// reproducible.
import { PROFILES, type ProfileName } from '../config/types.js';

export { PROFILES };

const PROFILE_NOTES: Record<ProfileName, string> = {
  default: 'no overlay: the defaults below',
  forensic: 'lose less: exporters queue on disk (512MiB) and retry for 1h; every tenant is archived (forensic.mode: always)',
  airgap: 'no network egress: only file:// exporters; archived segments get the long-lived `airgap` retention tier',
};

/** configs/<profile>.yaml: a working config for one profile (validated when the kit is built). */
export function profileConfig(profile: ProfileName, version: string): string {
  return `# Stella Telemetry Gateway ${version}: the "${profile}" profile, from the offline kit.
# ${PROFILE_NOTES[profile]}.
# Every key and its default: node_modules/stella-telemetry-gateway/stella.example.yaml.
#
#   stella telemetry config validate configs/${profile}.yaml
#   stella telemetry serve --config configs/${profile}.yaml
#
# Relative paths are resolved against the working directory: run the gateway from the install prefix.
profile: ${profile}
dataDir: ./data
policiesDir: ./policies
receivers:
  grpc:
    endpoint: 127.0.0.1:4317
  http:
    endpoint: 127.0.0.1:4318
admin:
  endpoint: 127.0.0.1:8888
# No exporter is configured: the gateway writes every signal to files under <dataDir>/export
# ("stella telemetry dump" prints them). Add exporters here; see the package's stella.example.yaml.
`;
}

/** install.sh: installs the package with npm in offline mode, then copies the site files. */
export function installScript(version: string, packageFile: string): string {
  return `#!/bin/sh
# Installs the Stella Telemetry Gateway ${version} from this kit with no network access.
#
#   sh install.sh [PREFIX]          (default PREFIX: /opt/stella)
#
# Verify the kit before running this: stella telemetry kit verify stella-kit-${version}.tar --key KIT.pub.pem
# npm runs in offline mode (--offline: it never contacts a registry) and installs one tarball whose
# production dependencies are bundled inside it; no lifecycle script runs (--ignore-scripts).
# Site files (configs/, policies/) already under PREFIX are kept; the kit's copies of everything are
# also put in PREFIX/kit-${version}/ to compare with (stella telemetry policy diff, profile diff).
set -eu
KIT_DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
PREFIX=\${1:-/opt/stella}
command -v node >/dev/null 2>&1 || { echo "install.sh: node is not on PATH (the gateway needs Node.js >= 22)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "install.sh: npm is not on PATH (it comes with Node.js)" >&2; exit 1; }
mkdir -p "$PREFIX/packages"
PREFIX=$(CDPATH= cd -- "$PREFIX" && pwd)
cp "$KIT_DIR/packages/${packageFile}" "$PREFIX/packages/${packageFile}"
cd "$PREFIX"
[ -f package.json ] || printf '{\\n  "name": "stella-site",\\n  "private": true\\n}\\n' > package.json
npm install --offline --ignore-scripts --no-audit --no-fund --no-update-notifier "./packages/${packageFile}"
REF="$PREFIX/kit-${version}"
mkdir -p "$REF"
for d in configs policies dashboards alerts tools; do
  if [ -d "$KIT_DIR/$d" ]; then cp -R "$KIT_DIR/$d" "$REF/"; fi
done
cp "$KIT_DIR/COMPLIANCE.md" "$KIT_DIR/README.txt" "$REF/"
for d in configs policies; do
  if [ -e "$PREFIX/$d" ]; then
    echo "kept the existing $PREFIX/$d (the kit's copy is in $REF/$d)"
  else
    cp -R "$KIT_DIR/$d" "$PREFIX/$d"
  fi
done
"$PREFIX/node_modules/.bin/stella" --version >/dev/null
echo "installed stella-telemetry-gateway ${version} in $PREFIX"
echo "start it:  cd $PREFIX && ./node_modules/.bin/stella telemetry serve --config configs/airgap.yaml"
`;
}

/** tools/import-grafana.mjs: posts the dashboards to a Grafana on the site network (Node only, no packages). */
export function grafanaImportTool(): string {
  return `#!/usr/bin/env node
// Imports the kit's Grafana dashboards through Grafana's HTTP API (POST /api/dashboards/db).
//   GRAFANA_URL=http://grafana:3000 GRAFANA_TOKEN=... node tools/import-grafana.mjs [dashboards/grafana]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.GRAFANA_URL;
const token = process.env.GRAFANA_TOKEN;
if (!url || !token) {
  console.error('import-grafana: set GRAFANA_URL and GRAFANA_TOKEN (a service-account token with dashboard write access)');
  process.exit(2);
}
const dir = process.argv[2] ?? new URL('../dashboards/grafana', import.meta.url).pathname;
let failed = 0;
for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
  const dashboard = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  delete dashboard.id;
  const res = await fetch(new URL('/api/dashboards/db', url), {
    method: 'POST',
    headers: { authorization: \`Bearer \${token}\`, 'content-type': 'application/json' },
    body: JSON.stringify({ dashboard, overwrite: true, message: 'stella offline kit' }),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.ok) console.log(\`imported \${name}\`);
  else {
    failed++;
    console.error(\`import-grafana: \${name}: HTTP \${res.status} \${(await res.text()).slice(0, 300)}\`);
  }
}
process.exit(failed === 0 ? 0 : 1);
`;
}

export function kitReadme(version: string, packageFile: string): string {
  const title = `Stella Telemetry Gateway ${version}: offline kit`;
  return `${title}
${'='.repeat(title.length)}

Everything a site without network access needs to run the gateway, review it and replay captures.
kit-manifest.json lists every other file with its SHA-256; kit-manifest.sigstore.json signs it
(Sigstore bundle, ECDSA P-256 key). Check both before using anything here:

  stella telemetry kit verify stella-kit-${version}.tar --key KIT.pub.pem

Contents
  install.sh                    installs the gateway with npm --offline (sh install.sh PREFIX)
  packages/${packageFile}
                                the gateway and all its production dependencies (bundled)
  configs/{default,forensic,airgap}.yaml
                                a working config per profile
  policies/                     the shipped redaction, allowlist, sampling and tenant policies
  dashboards/grafana/           Grafana dashboards (tools/import-grafana.mjs imports them)
  alerts/prometheus/            Prometheus alert rules and their promtool unit tests
  tools/import-grafana.mjs      dashboard import through Grafana's HTTP API
  COMPLIANCE.md                 the checklist a site signs off before and after installing

Replay and verify tooling comes with the package: after install,
  stella telemetry verify CAPTURE.tar --key CAPTURE.pub.pem
  stella telemetry replay CAPTURE.tar --key CAPTURE.pub.pem --export otlp-grpc://127.0.0.1:4317
  stella telemetry kit verify KIT.tar --key KIT.pub.pem

The whole workflow: docs/guides/offline-kit.md in the gateway's repository.
`;
}

export function complianceChecklist(version: string, signerKeyId: string): string {
  return `# Stella Telemetry Gateway ${version}: compliance checklist (offline kit)

Tick each item, sign and date the sheet, keep it with the site's change record.
The kit was signed by the key with id \`${signerKeyId}\` (hex SHA-256 of the DER public key).

## Receiving the kit
- [ ] The public key arrived over a different channel than the kit, and the key id
      \`stella telemetry kit verify\` prints matches the id received with it (the id above is the kit's
      own claim: it shows which key to expect, it proves nothing).
- [ ] \`stella telemetry kit verify stella-kit-${version}.tar --key KIT.pub.pem\` printed \`OK\` on a trusted
      machine (one that already runs a verified gateway, or with cosign: see the guide).
- [ ] The kit was extracted only after it verified.

## Installing
- [ ] Installed with \`sh install.sh PREFIX\`: npm ran with \`--offline\` and \`--ignore-scripts\`; the host
      has no route to a package registry.
- [ ] \`PREFIX/node_modules/.bin/stella --version\` prints ${version}.

## Configuring
- [ ] The profile is \`airgap\` (only \`file://\` exporters), or a network exporter is allowed explicitly
      (\`profiles.airgap.allowNetworkExporters: true\`) and the reason is recorded here: ______________
- [ ] \`stella telemetry config validate configs/airgap.yaml\` passes.
- [ ] Listeners bound beyond loopback use TLS with client certificates (docs: tls-and-tenants).
- [ ] \`stella telemetry policy validate policies\` passes; changes against the kit's policies
      (\`stella telemetry policy diff PREFIX/kit-${version}/policies policies\`) were reviewed.
- [ ] Dashboards imported (\`tools/import-grafana.mjs\`); alert rules loaded and
      \`promtool test rules alerts/prometheus/stella-rules.test.yml\` passes.

## Evidence
- [ ] A capture signing key was made at the site (\`stella telemetry keys init\`); the private key is
      mode 0600 and its custodian is: ______________
- [ ] Captures leaving the site are verified before they leave and on arrival
      (\`stella telemetry verify CAPTURE.tar --key CAPTURE.pub.pem\`).
- [ ] The audit log's chain is checked (\`stella telemetry audit verify\`) at each review.
- [ ] Forensic retention tiers agree with the site's retention policy.

Reviewed by: ______________   Date: ______________
`;
}
