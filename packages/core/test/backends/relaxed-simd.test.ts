import { relaxedSimdSupported } from '@adakv/allocator-wasm';
import { describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/index.js';
import { enableRelaxedSimd } from '../../src/node/index.js';

// Its own file: V8's flags are per process (vitest runs each file in a fork of its own).
describe('enableRelaxedSimd', () => {
  it('makes this Node validate relaxed SIMD, so a wasm backend made after it loads the fused multiply-add build', async () => {
    expect(enableRelaxedSimd()).toBe(true);
    expect(relaxedSimdSupported()).toBe(true);
    expect(enableRelaxedSimd()).toBe(true); // again: nothing changes
    const backend = await WasmBackend.create({ threads: 1 });
    expect(backend.description).toMatch(/relaxed SIMD \(fused multiply-add\)/);
    backend.dispose();
  });
});
