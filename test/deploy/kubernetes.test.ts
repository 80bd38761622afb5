// deploy/kubernetes, checked without a cluster: the manifests parse, point at each other (selectors,
// names, ports), probe the admin listener's paths, give the drain time to finish, and carry a config
// the gateway itself accepts (`config validate`, with the mounted files in place).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { writeDevCerts } from '../../src/cli/commands/certs-init.js';
import { packageRoot } from '../../src/paths.js';

const dir = join(packageRoot, 'deploy', 'kubernetes');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Obj;
const docs: Obj[] = (kustomization.resources as string[]).flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Obj));
const find = (kind: string, name?: string): Obj => {
  const d = docs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!d) throw new Error(`no ${kind} ${name ?? ''}`);
  return d;
};
const sts = find('StatefulSet');
const pod = sts.spec.template.spec as Obj;
const container = pod.containers[0] as Obj;
const configYaml = find('ConfigMap', 'stella-gateway-config').data['config.yaml'] as string;
const config = parseAllDocuments(configYaml)[0]!.toJS() as Obj;
const portOf = (hp: string): number => Number(hp.split(':').pop());

t.test('services, the PDB and the HPA select the StatefulSet pods', async (t) => {
  const labels = sts.spec.template.metadata.labels as Record<string, string>;
  t.same(sts.spec.selector.matchLabels, labels);
  for (const svc of docs.filter((d) => d.kind === 'Service')) {
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) t.equal(labels[k], v, `${svc.metadata.name} selects ${k}=${v}`);
    const named = new Set((container.ports as Obj[]).map((p) => p.name));
    for (const p of svc.spec.ports as Obj[]) t.ok(named.has(p.targetPort), `${svc.metadata.name}: target port ${p.targetPort} exists`);
  }
  t.equal(find('Service', sts.spec.serviceName).spec.clusterIP, 'None', 'the peers service is headless');
  t.same(find('PodDisruptionBudget').spec.selector.matchLabels, labels);
  t.same(find('HorizontalPodAutoscaler').spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata.name });
});

t.test('container ports and probes match the listeners of the config', async (t) => {
  const ports = Object.fromEntries((container.ports as Obj[]).map((p) => [p.name, p.containerPort]));
  t.equal(ports['otlp-grpc'], portOf(config.receivers.grpc.endpoint));
  t.equal(ports['otlp-http'], portOf(config.receivers.http.endpoint));
  t.equal(ports.admin, portOf(config.admin.endpoint));
  for (const l of [config.receivers.grpc.endpoint, config.receivers.http.endpoint, config.admin.endpoint]) t.match(l, /^0\.0\.0\.0:/, 'listens beyond loopback inside the pod');
  t.same(container.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
  t.same(container.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
});

t.test('the drain fits in the termination grace period', async (t) => {
  const shutdown = /^(\d+)s$/.exec(config.shutdownTimeout as string);
  t.ok(shutdown, 'shutdownTimeout in seconds');
  t.ok(Number(shutdown![1]) + 5 <= pod.terminationGracePeriodSeconds, `${config.shutdownTimeout} + 5 s ≤ ${pod.terminationGracePeriodSeconds} s`);
});

t.test('mounts: the config file, the policies as a directory (hot reload), TLS, and the data dir', async (t) => {
  const mounts = Object.fromEntries((container.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  t.ok(mounts['/etc/stella/config.yaml'], 'the config file');
  t.equal(container.args[container.args.indexOf('--config') + 1], '/etc/stella/config.yaml');
  t.equal(mounts[config.policiesDir]?.subPath, undefined, 'policies mounted without subPath: ConfigMap updates reach the pod');
  t.equal(mounts[config.dataDir]?.name, 'data');
  t.ok(sts.spec.volumeClaimTemplates.some((v: Obj) => v.metadata.name === 'data'), 'a volume per replica');
  for (const f of [config.receivers.grpc.tls.certFile, config.receivers.grpc.tls.keyFile, config.receivers.grpc.tls.clientCaFile]) {
    t.ok((f as string).startsWith(`${Object.keys(mounts).find((m) => mounts[m].name === 'tls')}/`), `${f} is on the TLS mount`);
  }
});

t.test('the gateway accepts the config (config validate, the mounted files in a scratch root)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stella-k8s-'));
  const tls = join(root, 'etc/stella/tls');
  const certs = await writeDevCerts({ out: tls, tenants: ['acme'], days: 2, trustDomain: 'stella.local', force: false });
  if (!certs.ok) throw new Error(certs.error);
  writeFileSync(join(tls, 'tls.crt'), readFileSync(certs.files.server));
  writeFileSync(join(tls, 'tls.key'), readFileSync(certs.files.serverKey));
  writeFileSync(join(tls, 'ca.crt'), readFileSync(certs.files.ca));
  const peerTls = join(root, 'etc/stella/peer-tls');
  const peer = await writeDevCerts({ out: peerTls, tenants: ['acme'], peers: ['stella-gateway'], days: 2, trustDomain: 'stella.local', force: false });
  if (!peer.ok) throw new Error(peer.error);
  writeFileSync(join(peerTls, 'tls.crt'), readFileSync(peer.files.peers['stella-gateway']!.cert));
  writeFileSync(join(peerTls, 'tls.key'), readFileSync(peer.files.peers['stella-gateway']!.key));
  writeFileSync(join(peerTls, 'ca.crt'), readFileSync(peer.files.ca));
  mkdirSync(join(root, 'etc/stella/policies'), { recursive: true });
  const file = join(root, 'config.yaml');
  writeFileSync(file, configYaml.replaceAll('/etc/stella/', `${root}/etc/stella/`).replaceAll('dataDir: /data', `dataDir: ${root}/data`));
  const r = spawnSync(process.execPath, [join(packageRoot, 'dist/src/cli/main.js'), 'telemetry', 'config', 'validate', file], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', POD_NAME: 'stella-gateway-0' } });
  t.equal(r.status, 0, r.stdout + r.stderr);
});

t.test('cluster mode: the pod name is the replica id; peers through the headless Service on the peer port', async (t) => {
  const ports = Object.fromEntries((container.ports as Obj[]).map((p) => [p.name, p.containerPort]));
  t.equal(ports.peer, portOf(config.cluster.listen), 'the peer container port is cluster.listen');
  t.equal(config.cluster.self, '${env:POD_NAME}');
  t.same((container.env as Obj[]).find((e) => e.name === 'POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  const m = /^dns:([^:]+):(\d+)$/.exec(config.cluster.peers as string);
  t.ok(m, 'peers from DNS');
  const peers = find('Service', m![1]);
  t.equal(peers.metadata.name, sts.spec.serviceName, 'the StatefulSet\'s headless Service');
  t.equal(peers.spec.clusterIP, 'None');
  t.ok((peers.spec.ports as Obj[]).some((p) => p.port === Number(m![2]) && p.targetPort === 'peer'), 'the Service exposes the peer port');
  t.notOk((find('Service', 'stella-gateway').spec.ports as Obj[]).some((p) => p.targetPort === 'peer'), 'clients never reach the peer port');
  const mounts = Object.fromEntries((container.volumeMounts as Obj[]).map((v) => [v.mountPath, v]));
  for (const f of [config.cluster.tls.certFile, config.cluster.tls.keyFile, config.cluster.tls.caFile] as string[]) {
    const mount = Object.keys(mounts).find((mp) => f.startsWith(`${mp}/`));
    t.ok(mount && mounts[mount].name === 'peer-tls', `${f} is on the peer certificate mount`);
  }
});
