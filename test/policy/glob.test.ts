import t from 'tap';
import { globMatcher, globSource, globToRegExp } from '../../src/policy/glob.js';

t.test('glob syntax', async (t) => {
  t.equal(globSource('*password*'), '^.*password.*$');
  t.equal(globSource('http.server.*'), '^http\\.server\\..*$');
  t.equal(globSource('a**b?'), '^a.*b.$');
  t.ok(globToRegExp('http.*').test('http.request.method'));
  t.notOk(globToRegExp('http.*').test('httpXrequest'), 'a dot is literal');
  t.ok(globToRegExp('*password*', { ignoreCase: true }).test('DB_PASSWORD'));
  t.notOk(globToRegExp('*password*').test('DB_PASSWORD'), 'case-sensitive by default');
  t.ok(globToRegExp('a(b)+[c]').test('a(b)+[c]'), 'regex syntax is literal');
});

t.test('globMatcher', async (t) => {
  const any = globMatcher(null);
  t.ok(any('whatever'));
  const none = globMatcher([]);
  t.notOk(none('whatever'));
  const m = globMatcher(['service.name', 'http.*', 'k8s.?od.name']);
  t.ok(m('service.name'));
  t.ok(m('http.route'));
  t.ok(m('k8s.pod.name'));
  t.notOk(m('service.namespace'));
  t.notOk(m('db.statement'));
  const ci = globMatcher(['Cookie', '*secret*'], { ignoreCase: true });
  t.ok(ci('cookie'));
  t.ok(ci('AWS_SECRET_ACCESS_KEY'));
  t.notOk(ci('cookies'));
});
