import { defineConfig } from 'vitest/config';

// The end-to-end suite builds the app once and drives one Chromium; run files one at a time.
export default defineConfig({ test: { fileParallelism: false, testTimeout: 60_000, hookTimeout: 180_000 } });
