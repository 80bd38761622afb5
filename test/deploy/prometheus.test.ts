// deploy/prometheus: the rules parse, every alert fires in its promtool unit test, links a runbook that
// exists, and reads only metrics a running gateway exposes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { packageRoot } from '../../src/paths.js';
import { baseUrl, startTestGateway } from '../helpers/gateway.js';
import { exposedNames, metricNames, promtool } from './promql.js';

const dir = join(packageRoot, 'deploy', 'prometheus');
type Rule = { alert?: string; record?: string; expr: string; annotations?: Record<string, string> };
const rules = (parse(readFileSync(join(dir, 'stella-rules.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);

t.test('promtool checks the rules and runs their unit tests', async (t) => {
  const check = promtool(['check', 'rules', 'stella-rules.yml'], dir);
  t.equal(check.status, 0, check.output);
  const test = promtool(['test', 'rules', 'stella-rules.test.yml'], dir);
  t.equal(test.status, 0, test.output);
});

t.test('every alert has a unit test where it fires', async (t) => {
  const tests = (parse(readFileSync(join(dir, 'stella-rules.test.yml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests;
  const fired = new Set(tests.flatMap((x) => x.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  t.ok(alerts.length >= 10);
  for (const a of alerts) t.ok(fired.has(a.alert!), `${a.alert} fires in a test`);
});

t.test('every alert links its runbook, and the runbook exists', async (t) => {
  for (const a of alerts) {
    t.equal(a.annotations?.runbook_url, `docs/runbooks/${a.alert}.md`, `${a.alert}: runbook_url`);
    t.ok(existsSync(join(packageRoot, 'docs', 'runbooks', `${a.alert}.md`)), `${a.alert}: the runbook exists`);
  }
});

t.test('the rules read only metrics the gateway exposes', async (t) => {
  const gw = await startTestGateway([]);
  t.teardown(() => gw.stop(5000));
  const exposed = exposedNames(await (await fetch(`${baseUrl(gw, 'admin')}/metrics`)).text());
  exposed.add('up'); // written by Prometheus itself for every scrape
  for (const r of rules) for (const name of metricNames(r.expr)) t.ok(exposed.has(name), `${r.alert ?? r.record}: ${name} is exposed`);
});
