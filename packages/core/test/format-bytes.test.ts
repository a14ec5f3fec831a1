import { expect, it } from 'vitest';
import { formatBytes } from '../src/index.js';

it('formats bytes with binary units', () => {
  expect(formatBytes(512)).toBe('512 B');
  expect(formatBytes(2048)).toBe('2.0 KiB');
  expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
  expect(formatBytes(Number.NaN)).toBe('–');
});
