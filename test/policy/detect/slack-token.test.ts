import t from 'tap';
import { findSlackTokens } from '../../../src/policy/detect/slack-token.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findSlackTokens(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

t.test('bot, user and app-level tokens', async (t) => {
  const tokens = [
    'xoxb-27152660746-6340835094048-infz3yKTIhyvgSZIw7F7H9qV',
    'xoxb-8605664219-2908652101718-L5MiuAhicBONbcEYscKT40Xc',
    'xoxp-10431069376-82646608808-9193531464038-45e1a4f846ce9a0f9ea8cf71cf8ec112',
    'xapp-1-A0123BCDEFG-4567890123456-0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
  ];
  for (const token of tokens) {
    for (const value of [token, `token ${token} was revoked`, `SLACK_BOT_TOKEN=${token}`, `(token ${token})`]) {
      t.same(texts(value), [token], value);
      const b = Buffer.from(value);
      t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
    }
    const url = `https://slack.com/api/chat.postMessage?token=${token}&channel=C024BE91L`;
    const f = findSecrets(url);
    t.same(f.map((x) => [x.category, url.slice(x.start, x.end)]), [['slack_token', token]], 'a Slack token in ?token= is a slack_token');
  }
});

t.test('words that start like tokens', async (t) => {
  for (const value of ['xoxo', 'xoxo-hugs', 'xoxb-', 'xoxb-abc-def', 'xapp-x-123', 'fooxoxb-123-4567890123-abcdefgh']) {
    t.same(texts(value), [], value);
  }
});
