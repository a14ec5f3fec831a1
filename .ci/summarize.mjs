// Sums the vitest "Tests" lines of a turbo log into one closing line, and fails under CI=true when
// anything was skipped: every suite must run in CI.
import { readFileSync } from 'node:fs';

const log = readFileSync(process.argv[2], 'utf8');
const totals = { passed: 0, failed: 0, skipped: 0, todo: 0 };
for (const line of log.split('\n')) {
  const match = /(?:^|\s)(Tests|Test Files)\s+(.+)\(\d+\)\s*$/.exec(line.replace(/\x1b\[[0-9;]*m/g, ''));
  if (!match) continue;
  for (const [, count, kind] of match[2].matchAll(/(\d+) (passed|failed|skipped|todo)/g)) {
    if (match[1] === 'Tests' || kind === 'skipped') totals[kind] += Number(count);
  }
}
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (process.env.CI === 'true' && totals.skipped + totals.todo > 0) {
  console.error('CI: skipped or todo tests are failures here; every suite must run.');
  process.exit(1);
}
if (totals.passed === 0 || totals.failed > 0) process.exit(1);
