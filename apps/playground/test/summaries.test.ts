import { describe, expect, it } from 'vitest';
import { compressionText, paperParts, takeaway, softwareWebGpuNotice, webGpuFallbackNotice } from '../src/summaries.js';

describe('summaries', () => {
  it('gives the live and the prefill compression', () => {
    const plan = { originalTotal: 1000, achievedTotal: 400 } as never;
    expect(compressionText({ compressedBytes: 500, fullBytes: 1000, plan })).toBe('2.00x now, 2.50x after prefill');
    expect(compressionText({ compressedBytes: 500, fullBytes: 1000, plan: null })).toBe('none');
  });

  it('says how unequal the heads are and what Ada-KV gains, or that it gains nothing', () => {
    expect(takeaway([0.1, 0.5, 0.3], [0.8, 0.8], [0.9, 0.88])).toBe(
      'For this prompt, the most concentrated head holds 90% of its attention in 10% of its cache and the most spread one needs 50%, so at this budget Ada-KV keeps 89% of the attention mass on average where an even split keeps 80%.',
    );
    expect(takeaway([0.2, 0.2], [0.9], [0.9])).toMatch(/an even split keeps as much attention mass \(90%\) as Ada-KV \(90%\)/);
  });

  it('links every arXiv number of a paper line', () => {
    expect(paperParts('Ada-KV, arXiv 2407.11550 (over SnapKV, arXiv 2404.14469)')).toEqual([
      { text: 'Ada-KV, ' },
      { text: 'arXiv 2407.11550', href: 'https://arxiv.org/abs/2407.11550' },
      { text: ' (over SnapKV, ' },
      { text: 'arXiv 2404.14469', href: 'https://arxiv.org/abs/2404.14469' },
      { text: ')' },
    ]);
    expect(paperParts('no paper')).toEqual([{ text: 'no paper' }]);
  });

  it('explains the WebGPU fallback in browser terms', () => {
    expect(webGpuFallbackNotice(false)).toMatch(/^WebGPU is not available: this browser has no WebGPU .*Using the WASM backend instead/);
    expect(webGpuFallbackNotice(true)).toMatch(/offered no adapter/);
    expect(webGpuFallbackNotice(true)).not.toMatch(/VK_ICD|Vulkan/);
  });

  it('names the software renderer auto stepped away from, and how to use it anyway', () => {
    expect(softwareWebGpuNotice('google swiftshader')).toBe(
      'WebGPU here is a software renderer (google swiftshader), slower than WASM. Using the WASM backend; choose WebGPU to run on it anyway.',
    );
  });
});
