// The gateway's side of capture on incident end: settings from the config (paths as the admin captures
// route uses them), so src/gateway.ts wires it in one line.
import { join } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import { forensicDir } from '../tee/layout.js';
import { capturesDirOf } from '../admin/routes.js';
import { createIncidentCapturer, type IncidentCaptureDeps, type IncidentCapturer } from './capture-on-end.js';
import { incidentStoreConfig } from './store.js';
import { AUDIT_FILE } from './audit-log.js';

/** Starts capturing ended incidents when incidents.captureOnEnd.enabled (and incident mode is on); else undefined. */
export function startIncidentCaptures(config: GatewayConfig, deps: IncidentCaptureDeps): IncidentCapturer | undefined {
  const c = config.incidents.captureOnEnd;
  if (!config.incidents.enabled || !c.enabled) return undefined;
  return createIncidentCapturer(
    {
      leadMs: c.leadMs,
      cooldownMs: c.cooldownMs,
      root: forensicDir(config),
      capturesDir: capturesDirOf(config),
      signingKeyPath: join(config.dataDir, 'keys', 'signing-key.pem'),
      profile: config.profile,
      auditFile: join(incidentStoreConfig(config).dir, AUDIT_FILE),
      limits: config.forensic.captures,
    },
    deps,
  );
}
