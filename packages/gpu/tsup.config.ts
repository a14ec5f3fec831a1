import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  loader: { '.wgsl': 'text' }, // kernels ship inlined as strings: nothing to locate at run time
  external: ['webgpu'],
});
