import t from 'tap';
import { DEFAULT_TENANCY } from '../../../src/config/sections/tenancy.js';
import { validateConfig } from '../../../src/config/validate.js';

t.test('defaults: anonymous auto, tenant.id, X-Scope-OrgID, no quota, tenantsFile under policiesDir', async (t) => {
  const r = validateConfig({});
  t.equal(r.ok, true);
  if (r.ok) t.same(r.config.tenancy, DEFAULT_TENANCY);
  t.notOk(r.ok && 'tenantsFile' in r.config.tenancy, 'unset: the gateway uses <policiesDir>/tenants.yaml');
});

t.test('every key is read, sizes take units', async (t) => {
  const r = validateConfig({
    tenancy: {
      trustDomain: 'corp.example',
      anonymous: 'never',
      anonymousTenant: 'local',
      attributeKey: 'org.id',
      exportHeader: 'X-Org',
      tenantsFile: '/etc/stella/tenants.yaml',
      quota: { itemsPerSecond: 10, bytesPerSecond: '1MiB' },
      maxTenantLabels: 5,
      maxBuckets: 50,
      exportOverrides: { acme: { tempo: 'tempo-acme:4317' } },
    },
  });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.same(r.config.tenancy, {
    trustDomain: 'corp.example',
    anonymous: 'never',
    anonymousTenant: 'local',
    attributeKey: 'org.id',
    exportHeader: 'X-Org',
    tenantsFile: '/etc/stella/tenants.yaml',
    quota: { itemsPerSecond: 10, itemsBurst: 0, bytesPerSecond: 1024 * 1024, bytesBurst: 0 },
    maxTenantLabels: 5,
    maxBuckets: 50,
    exportOverrides: { acme: { tempo: 'tempo-acme:4317' } },
  });
});

t.test('errors name the path and the bad value', async (t) => {
  const r = validateConfig({
    tenancy: {
      trustDomain: 'Not A Domain',
      anonymous: 'sometimes',
      exportHeader: 'bad header',
      quota: { itemsPerSecond: -1, bytesBurst: 'lots' },
      exportOverrides: { 'bad tenant': { x: 'y' } },
      tenant: 1,
    },
  });
  t.equal(r.ok, false);
  const errors = r.ok ? [] : r.errors;
  t.match(errors.join('\n'), /tenancy\.trustDomain: expected a SPIFFE trust domain .*\(got "Not A Domain"\)/);
  t.match(errors.join('\n'), /tenancy\.anonymous: expected one of auto, never, always \(got "sometimes"\)/);
  t.match(errors.join('\n'), /tenancy\.exportHeader: expected an HTTP header name \(got "bad header"\)/);
  t.match(errors.join('\n'), /tenancy\.quota\.itemsPerSecond: expected an integer from 0/);
  t.match(errors.join('\n'), /tenancy\.quota\.bytesBurst: expected a size such as 16MiB \(got "lots"\)/);
  t.match(errors.join('\n'), /tenancy\.exportOverrides\["bad tenant"\]: expected a tenant id/);
  t.match(errors.join('\n'), /tenancy: unknown key "tenant"/);
  t.equal(errors.length, 7, errors.join('\n'));
});
