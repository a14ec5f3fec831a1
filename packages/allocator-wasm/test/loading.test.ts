import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Allocator, AllocatorError, BlockPool, defaultWasmUrl } from '../src/index.js';

const wasmPath = fileURLToPath(new URL('../wasm/allocator.wasm', import.meta.url));

async function works(allocator: Allocator) {
  const pool = BlockPool.inAllocator(allocator, { headDim: 4 });
  const sequence = pool.addSequence(1, 1);
  pool.append(sequence, 0, new Float32Array(4).fill(1), new Float32Array(4).fill(2), Int32Array.of(5));
  expect(Array.from(pool.values(sequence, 0, 0))).toEqual([2, 2, 2, 2]);
}

describe('loading allocator.wasm', () => {
  it('finds the packaged file next to the code by default', async () => {
    expect(fileURLToPath(defaultWasmUrl())).toBe(wasmPath);
    await works(await Allocator.load());
  });

  it('accepts a path, a file URL, bytes, a typed array, a compiled module and a Response', async () => {
    const bytes = readFileSync(wasmPath);
    const sources = [
      wasmPath,
      new URL(`file://${wasmPath}`),
      `file://${wasmPath}`,
      bytes,
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      new WebAssembly.Module(bytes),
      new Response(bytes, { headers: { 'content-type': 'application/wasm' } }),
      new Response(bytes),
    ];
    for (const source of sources) await works(await Allocator.load(source));
  });

  it('says what to do when the file is missing or not WebAssembly', async () => {
    await expect(Allocator.load('/nonexistent/allocator.wasm')).rejects.toMatchObject({ code: 'WASM_LOAD_FAILED' });
    await expect(Allocator.load(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(AllocatorError);
    await expect(Allocator.load(new Uint8Array([1, 2, 3]))).rejects.toThrow(/wasm option/);
  });
});

describe('the built package', () => {
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));
  it.each([
    ['CommonJS', `createRequire(import.meta.url)(${JSON.stringify(`${dist}index.cjs`)})`],
    ['ESM', `await import(${JSON.stringify(`${dist}index.js`)})`],
  ])('finds allocator.wasm by default from the %s build', (_kind, load) => {
    const script = `import { createRequire } from 'node:module'; const m = ${load};
      const pool = await m.BlockPool.create({ headDim: 2 }); console.log(pool.stats().blockBytes);`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(output.trim()).toBe(String(2 * 16 * 2 * 4));
  });
});
