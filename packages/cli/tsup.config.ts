import { defineConfig } from 'tsup';

export default defineConfig({
  // engine-worker: the thread `adakv serve` runs the model in, loaded by path from next to the bundle
  entry: { index: 'src/index.ts', bin: 'src/bin.ts', 'engine-worker': 'src/server/engine-worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // The CJS build gets an import.meta.url shim (the eval corpus is located through createRequire).
  shims: true,
});
