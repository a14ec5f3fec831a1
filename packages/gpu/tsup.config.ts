import { readFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

/**
 * Kernels ship inlined as strings (nothing to locate at run time), without their comments and
 * indentation: WGSL has no string literals, so `//` and `/*` always start a comment (ours never
 * nest). A third of the bytes.
 */
const compactWgsl = {
  name: 'compact-wgsl',
  setup(build: { onLoad(options: { filter: RegExp }, callback: (args: { path: string }) => Promise<{ contents: string; loader: 'text' }>): void }) {
    build.onLoad({ filter: /\.wgsl$/ }, async ({ path }) => {
      const source = (await readFile(path, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '');
      const lines = source.split('\n').map((line) => line.replace(/\/\/.*$/, '').trim());
      return { contents: lines.filter((line) => line !== '').join('\n'), loader: 'text' };
    });
  },
};

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // rollup-plugin-dts drops triple-slash directives; without this one a consumer that checks
  // libraries (`skipLibCheck: false`) cannot find `GPUDevice` and the other WebGPU globals.
  dts: { banner: '/// <reference types="@webgpu/types" />' },
  clean: true,
  sourcemap: true,
  target: 'es2022',
  esbuildPlugins: [compactWgsl],
  external: ['webgpu'],
});
