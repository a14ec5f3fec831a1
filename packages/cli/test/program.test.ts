import { expect, it } from 'vitest';
import { createProgram } from '../src/index.js';

it('describes itself in --help', () => {
  expect(createProgram().helpInformation()).toMatch(/Usage: adakv/);
});
