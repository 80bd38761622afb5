// Slack tokens (https://api.slack.com/concepts/token-types): `xoxb-` bot and `xoxp-` user tokens (digit
// groups, then an alphanumeric or hex tail), the other `xox?-` kinds (`xoxa`, `xoxo`, `xoxr`, `xoxs`,
// `xoxe` refresh), and `xapp-1-` app-level tokens. The prefixes are distinctive, so the shape after them
// is only bounded, not checked group by group.
import type { Detector, Finding } from './types.js';

const SLACK = /(?<![A-Za-z0-9])(?:xox[abeoprs]|xapp)-[0-9]{1,20}-[A-Za-z0-9-]{8,250}/g;

export function findSlackTokens(value: string, out: Finding[]): void {
  if (value.indexOf('xox') === -1 && value.indexOf('xapp-') === -1) return;
  SLACK.lastIndex = 0;
  for (let m = SLACK.exec(value); m !== null; m = SLACK.exec(value)) {
    let end = m.index + m[0].length;
    while (value.charCodeAt(end - 1) === 0x2d) end--; // a dash after the token is punctuation
    out.push({ category: 'slack_token', start: m.index, end });
  }
}

export const slackTokenDetector: Detector = { category: 'slack_token', find: findSlackTokens };
