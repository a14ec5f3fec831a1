import { defineConfig } from 'vitest/config';
import { sharedTestOptions } from '../../vitest.shared.js';

// Node 20 validates relaxed SIMD only behind this flag: with it, the suites run the relaxed-SIMD
// builds as well as the plain ones.
export default defineConfig({ test: { ...sharedTestOptions, execArgv: ['--experimental-wasm-relaxed-simd'] } });
