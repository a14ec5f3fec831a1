import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runtimeDir = join(tmpdir(), 'adakv-xdg');
mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });

/** Test settings the packages that touch WebGPU or the real model share. */
export const sharedTestOptions = {
  // WebGPU through Dawn over SwiftShader when no GPU is configured (DESIGN.md section 7)
  env: {
    VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? runtimeDir,
  },
  pool: 'forks' as const,
  // real-model tests take seconds alone and much longer on a loaded 2-core machine
  testTimeout: 120_000,
  hookTimeout: 120_000,
};
