import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // The CJS build gets an import.meta.url shim, so `new URL('../wasm/allocator.wasm', import.meta.url)`
  // finds the packaged file from dist/index.cjs too.
  shims: true,
});
