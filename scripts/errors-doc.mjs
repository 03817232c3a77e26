// Prints docs/errors.md from the error catalog in dist/ (run `npm run build` first).
import { ERROR_CODES } from '../dist/common/errors.js';

const lines = [
  '# Error codes',
  '',
  'Every problem Capstan reports carries one of these codes, so scripts can match on them.',
  'Problems in manifests print as `file:line:col: message [CODE]`; `capstan validate -o json`',
  'and `capstan plan -o json` carry the code in each error and warning.',
  '',
  '| code | meaning |',
  '|---|---|',
  ...Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`),
  '',
];
process.stdout.write(lines.join('\n'));
