import t from 'tap';
import { findAwsAccessKeyIds, findAwsSecretKeys } from '../../../src/policy/detect/aws.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (find: (v: string, out: Finding[]) => void, value: string): string[] => {
  const out: Finding[] = [];
  find(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};
const passes = (value: string): boolean => {
  const b = Buffer.from(value);
  return mayContainSecret(b, 0, b.length);
};

const ID = 'AKIA47X572HTMCVLFKSE';
const STS = 'ASIAY34FZKBOKMUTVV7A';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

t.test('access key ids: AKIA/ASIA + 16, alone, in env dumps and presigned URLs', async (t) => {
  const cases: [string, string][] = [
    [ID, ID],
    [STS, STS],
    [`Rotated access key ${ID}`, ID],
    [`AWS_ACCESS_KEY_ID=${ID} AWS_SECRET_ACCESS_KEY=x`, ID],
    [`(AccessKeyId ${STS})`, STS],
    [`https://bucket.s3.example.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${ID}%2F20241112%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20241112T000000Z`, ID],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(findAwsAccessKeyIds, value), [expected], value);
    t.ok(passes(value), 'prefilter passes');
  }
  const url = cases[5]![0];
  const f = findSecrets(url);
  t.equal(f[0]!.category, 'aws_access_key_id', 'X-Amz-Credential starts with the key id: the finding is named after it');
  t.ok(!url.slice(0, f[0]!.start).includes(ID) && f[0]!.end >= url.indexOf(ID) + ID.length, 'and covers it');
});

t.test('strings that are not access key ids', async (t) => {
  for (const value of ['AKIA47X572HTMCVLFKS', 'AKIA47X572HTMCVLFKSEX', 'xAKIA47X572HTMCVLFKSE', 'akia47x572htmcvlfkse', 'AKIDEXAMPLE', 'AKIA47x572HTMCVLFKSE']) {
    t.same(texts(findAwsAccessKeyIds, value), [], value);
  }
});

t.test('secret access keys next to a marking name', async (t) => {
  for (const value of [
    `AWS_SECRET_ACCESS_KEY=${SECRET}`,
    `aws_secret_access_key = ${SECRET} (profile ci)`,
    `aws.secret_access_key: ${SECRET}`,
    `{"secretAccessKey":"${SECRET}"}`,
    `{"SecretAccessKey": "${SECRET}", "Expiration": "x"}`,
    `credentials: { secretAccessKey: '${SECRET}' }`,
    `{\\"secretAccessKey\\":\\"${SECRET}\\"}`,
    `aws_secret_key => "${SECRET}"`,
  ]) {
    t.same(texts(findAwsSecretKeys, value), [SECRET], value);
    t.ok(passes(value), 'prefilter passes');
    const f = findSecrets(value).filter((x) => value.slice(x.start, x.end) === SECRET);
    t.equal(f.length, 1, 'findSecrets covers it exactly');
    t.equal(f[0]?.category, 'aws_secret_key', 'named aws_secret_key');
  }
});

t.test('a bare 40-character base64 string is not an AWS secret', async (t) => {
  for (const value of [SECRET, `checksum ${SECRET}`, `x-amz-checksum-sha256: ${SECRET}`, `aws_secret_access_key=${SECRET}A`]) {
    t.same(texts(findAwsSecretKeys, value), [], value);
  }
  t.same(findSecrets(`checksum ${SECRET}`), [], 'no detector claims it');
});
