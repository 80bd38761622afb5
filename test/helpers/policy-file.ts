// Policy files end with `version: 1`, which marks them complete (src/policy/load.ts): tests that write
// a policy file write it through this.
export function complete(text: string): string {
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}version: 1\n`;
}
