import t from 'tap';
import { SchemaErrors, boolError, expectedMapping, formatPath, integerError, oneOfError, pathAt, show, unknownKey } from '../src/schema-check.js';

t.test('show: how a bad value appears inside (got …)', async (t) => {
  t.equal(show('x"y'), '"x\\"y"');
  t.equal(show(3), '3');
  t.equal(show(null), 'null');
  t.equal(show(undefined), 'nothing');
  t.equal(show([1]), 'a list');
  t.equal(show({ a: 1 }), 'a mapping');
});

t.test('paths: the config (strings) and the policy files (segments) write them the same way', async (t) => {
  const segments = ['exporters', 1, 'headers', 'x-api key', 'value'];
  t.equal(formatPath(segments), 'exporters[1].headers["x-api key"].value');
  t.equal(segments.reduce<string>((p, k) => pathAt(p, k), ''), formatPath(segments));
  t.equal(pathAt('', 'receivers'), 'receivers', 'a bare key at the top');
  t.equal(formatPath([]), '');
});

t.test('messages', async (t) => {
  t.equal(unknownKey('recievers', ['receivers', 'exporters']), 'unknown key "recievers" (did you mean "receivers"?)');
  t.equal(unknownKey('zzz', ['receivers']), 'unknown key "zzz"', 'no suggestion when nothing is close');
  t.equal(expectedMapping([]), 'expected a mapping (got a list)');
  t.equal(integerError(5, 1, 10), undefined);
  t.equal(integerError(1.5, 1, 10), 'expected an integer from 1 to 10 (got 1.5)');
  t.equal(integerError('5', 1, 10), 'expected an integer from 1 to 10 (got "5")');
  t.equal(boolError(false), undefined);
  t.equal(boolError('yes'), 'expected true or false (got "yes")');
  t.equal(oneOfError('gzip', ['none', 'gzip']), undefined);
  t.equal(oneOfError('gzp', ['none', 'gzip']), 'expected one of none, gzip (got "gzp") (did you mean "gzip"?)');
  t.equal(oneOfError(1, ['none', 'gzip']), 'expected one of none, gzip (got 1)');
});

t.test('SchemaErrors collects every error with its path', async (t) => {
  const c = new SchemaErrors();
  c.fail(['a', 0], 'first');
  c.fail(['b'], 'unknown key "b"', true);
  t.same(c.errors, [{ path: ['a', 0], message: 'first' }, { path: ['b'], message: 'unknown key "b"', atKey: true }]);
});
