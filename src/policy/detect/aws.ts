// AWS credentials (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
// Access key ids: `AKIA` (long-term) or `ASIA` (STS) + 16 upper-case base32 characters, found alone, in
// environment dumps, or as the start of a presigned URL's X-Amz-Credential (then followed by `%2F`).
// Secret access keys are 40 characters of [A-Za-z0-9/+] with nothing to tell them from other base64, so
// they are only recognised next to a name that marks them (`aws_secret_access_key = …`,
// `AWS_SECRET_ACCESS_KEY=…`, `"secretAccessKey": "…"`); a value under such an attribute key is caught by
// the sensitive-key rule, whose names all contain `secret`.
import type { Detector, Finding } from './types.js';

const ACCESS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

// The marking name, then an optional closing quote, `:`/`=`/`=>` (or only blanks), an optional
// opening quote (possibly backslash-escaped, for JSON inside a string), then exactly 40 characters.
const SECRET_KEY =
  /(?:secret[_. -]?access[_. -]?key|aws[_. -]?secret[_. -]?key)\\?["']?[ \t]{0,8}(?:=>|[:=])?[ \t]{0,8}\\?["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;

export function findAwsAccessKeyIds(value: string, out: Finding[]): void {
  if (value.indexOf('AKIA') === -1 && value.indexOf('ASIA') === -1) return;
  ACCESS_KEY_ID.lastIndex = 0;
  for (let m = ACCESS_KEY_ID.exec(value); m !== null; m = ACCESS_KEY_ID.exec(value)) {
    out.push({ category: 'aws_access_key_id', start: m.index, end: m.index + m[0].length });
  }
}

export function findAwsSecretKeys(value: string, out: Finding[]): void {
  SECRET_KEY.lastIndex = 0;
  for (let m = SECRET_KEY.exec(value); m !== null; m = SECRET_KEY.exec(value)) {
    const end = m.index + m[0].length;
    out.push({ category: 'aws_secret_key', start: end - 40, end });
  }
}

export const awsAccessKeyIdDetector: Detector = { category: 'aws_access_key_id', find: findAwsAccessKeyIds };
export const awsSecretKeyDetector: Detector = { category: 'aws_secret_key', find: findAwsSecretKeys };
