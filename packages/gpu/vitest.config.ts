import { defineConfig } from 'vitest/config';
import { sharedTestOptions } from '../../vitest.shared.js';

export default defineConfig({
  plugins: [{ name: 'wgsl-as-text', transform: (code, id) => (id.endsWith('.wgsl') ? `export default ${JSON.stringify(code)};` : undefined) }],
  test: sharedTestOptions,
});
