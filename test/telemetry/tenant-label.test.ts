import t from 'tap';
import { createTenantLabeler, OTHER_TENANT_LABEL } from '../../src/telemetry/tenant-label.js';

t.test('the first N tenants keep their label; the rest share _other; reserved values pass', async (t) => {
  const l = createTenantLabeler(2);
  t.equal(l.label('a'), 'a');
  t.equal(l.label('unknown'), 'unknown');
  t.equal(l.label('b'), 'b');
  t.equal(l.label('c'), OTHER_TENANT_LABEL);
  t.equal(l.label('a'), 'a', 'still its own');
  for (let i = 0; i < 1000; i++) l.label(`flood-${i}`);
  t.equal(l.size, 2);
  t.equal(createTenantLabeler(0).label('a'), OTHER_TENANT_LABEL);
});
