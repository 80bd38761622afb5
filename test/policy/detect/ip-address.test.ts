import t from 'tap';
import { findIpv4, findIpv6, isIpv6At, isVersionKey } from '../../../src/policy/detect/ip-address.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (find: (v: string, out: Finding[], key?: string) => void, value: string, key?: string): string[] => {
  const out: Finding[] = [];
  find(value, out, key);
  return out.map((f) => value.slice(f.start, f.end));
};
const passes = (value: string): boolean => {
  const b = Buffer.from(value);
  return mayContainSecret(b, 0, b.length);
};

t.test('IPv4 alone, with a port, in URLs, forwarding headers and arrays', async (t) => {
  const cases: [string, string[]][] = [
    ['192.0.2.202', ['192.0.2.202']],
    ['198.51.100.110:5432', ['198.51.100.110']],
    ['dial tcp 192.0.2.140:5432: connect: connection refused', ['192.0.2.140']],
    ['http://198.51.100.146:9090/metrics', ['198.51.100.146']],
    ['X-Forwarded-For: 203.0.113.195, 198.51.100.174,192.0.2.1', ['203.0.113.195', '198.51.100.174', '192.0.2.1']],
    ['Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43', ['192.0.2.60', '203.0.113.43']],
    ['Blocked request from 198.51.100.188.', ['198.51.100.188']],
    ['ip=10.0.0.1 and 255.255.255.255 and 0.0.0.0', ['10.0.0.1', '255.255.255.255', '0.0.0.0']],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(findIpv4, value), expected, value);
    t.ok(passes(value), 'prefilter passes');
  }
});

t.test('dotted numbers that are not IPv4 addresses', async (t) => {
  for (const value of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.256', '01.02.03.04', 'v1.2.3.4', 'ip-10-38-144-120.ec2.internal', '14.57.24', '2.3.1+build.240', '5.50.3-alpha.7+build.5685', '1.2.3.4a']) {
    t.same(texts(findIpv4, value), [], value);
  }
});

t.test('version and build keys exempt four-part numbers from IPv4 only', async (t) => {
  for (const key of ['service.version', 'app.version', 'peer.service.version', 'service.build.version', 'build.number', 'version', 'BuildId', 'os.kernel_version']) {
    t.ok(isVersionKey(key), key);
    t.same(findSecrets('4.2.0.118', key), [], `${key}: 4.2.0.118 kept`);
    t.same(findSecrets('2001:db8::1', key).map((f) => f.category), ['ipv6'], `${key}: IPv6 still found`);
  }
  for (const key of ['client.address', 'version.history', 'versions', 'host.ip', undefined]) {
    t.notOk(isVersionKey(key), String(key));
    t.same(findSecrets('192.0.2.7', key).map((f) => f.category), ['ipv4'], `${key}: found`);
  }
});

t.test('IPv6 in every text form', async (t) => {
  const cases: [string, string][] = [
    ['2001:0db8:7a5c:0000:0000:00ce:00ec:0067', '2001:0db8:7a5c:0000:0000:00ce:00ec:0067'],
    ['2001:db8:1275::7882:906a:b78', '2001:db8:1275::7882:906a:b78'],
    ['Geo lookup for 2001:DB8:6B5C::544F:876 done', '2001:DB8:6B5C::544F:876'],
    ['2001:DB8::1', '2001:DB8::1'],
    ['2001:db8::', '2001:db8::'],
    ['::1', '::1'],
    ['::ffff:198.51.100.7', '::ffff:198.51.100.7'],
    ['2001:db8:1:2:3:4:192.0.2.33', '2001:db8:1:2:3:4:192.0.2.33'],
    ['2001:db8:abcd::192.0.2.33', '2001:db8:abcd::192.0.2.33'],
    ['dial tcp [2001:0db8:5cb5:16e2:cfbd:0000:0000:3dc4]:6379: i/o timeout', '2001:0db8:5cb5:16e2:cfbd:0000:0000:3dc4'],
    ['Connection accepted from [2001:db8:1100::4cef:3f35:924c]:27274', '2001:db8:1100::4cef:3f35:924c'],
    ['http://[2001:db8::7]:8080/x', '2001:db8::7'],
    ['Forwarded: for="[2001:db8:cafe::17]:4711"', '2001:db8:cafe::17'],
    ['ip=2001:0db8:7d48:67c0:0000:0000:0000:0089', '2001:0db8:7d48:67c0:0000:0000:0000:0089'],
    ['fe80::1ff:fe23:4567:890a%eth0', 'fe80::1ff:fe23:4567:890a'],
    ['2001:0db8:5cb5:16e2:cfbd:0000:0000:3dc4:6379', '2001:0db8:5cb5:16e2:cfbd:0000:0000:3dc4'],
    ['from 2001:db8:98::1014:8004:2811.', '2001:db8:98::1014:8004:2811'],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(findIpv6, value), [expected], value);
    t.ok(passes(value), 'prefilter passes');
  }
  const mapped = findSecrets('::ffff:198.51.100.7');
  t.same(mapped.map((f) => f.category), ['ipv6'], 'an IPv4-mapped address is one ipv6 finding');
});

t.test('colon groups that are not IPv6', async (t) => {
  for (const value of [
    '01:02:03.456',
    '02:47:14.944',
    '12:34:56',
    '2024-11-12T03:23:27.938-08:00',
    '00:1a:2b:3c:4d:5e',
    'std::vector<int>',
    'DECODER routines::unsupported',
    'a :: b',
    '1:2:3:4:5:6:7:8:9:10',
    '2001:db8::1::2',
    '12345::1',
    'sha256:abcdef',
    'ot=th:0',
  ]) {
    t.same(texts(findIpv6, value), [], value);
  }
  t.notOk(isIpv6At('::', 0, 2), 'the unspecified address alone is not reported');
});
