import { describe, expect, it } from 'vitest';
import { requestGpu } from '../src/device.js';
import { PipelineCache } from '../src/program.js';
import { PROGRAMS } from '../src/programs.js';
import { testGpu } from './helpers.js';

const { gpu } = await testGpu();

describe('PipelineCache', () => {
  it('compiles each program once per device, shared by every cache of the device', async () => {
    const first = new PipelineCache(gpu.device);
    const pipeline = first.get(PROGRAMS.argmax.program);
    const second = new PipelineCache(gpu.device);
    expect(second.get(PROGRAMS.argmax.program)).toBe(pipeline);
    expect(second.size).toBe(first.size);
    const other = await requestGpu();
    expect(new PipelineCache(other.device).get(PROGRAMS.argmax.program)).not.toBe(pipeline);
    other.device.destroy();
  });

  it('gives every program (and storage format) its own cache key', () => {
    const keys = Object.values(PROGRAMS).map((p) => p.program.cacheKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
