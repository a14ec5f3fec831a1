import { expect, it } from 'vitest';
import { blocksFor } from '../src/index.js';

it('counts blocks per head', () => {
  expect(blocksFor(0)).toBe(0);
  expect(blocksFor(16)).toBe(1);
  expect(blocksFor(17)).toBe(2);
  expect(blocksFor(5, 4)).toBe(2);
});
