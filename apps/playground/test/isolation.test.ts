import { describe, expect, it } from 'vitest';
import { type IsolationEnvironment, isolationStep } from '../src/isolation.js';
import { engineLine } from '../src/summaries.js';

const plainHost: IsolationEnvironment = { crossOriginIsolated: false, production: true, serviceWorkers: true, sessionStorage: true, reloaded: false };

describe('cross-origin isolation at start', () => {
  it('does nothing on an isolated page (headers from the host, or from the service worker already)', () => {
    expect(isolationStep({ ...plainHost, crossOriginIsolated: true })).toEqual({ action: 'none', isolation: { isolated: true } });
    expect(isolationStep({ ...plainHost, crossOriginIsolated: true, reloaded: true })).toEqual({ action: 'none', isolation: { isolated: true } });
  });

  it('registers the service worker and reloads once on a host without the headers', () => {
    expect(isolationStep(plainHost)).toEqual({ action: 'register-and-reload' });
  });

  it('never reloads twice, nor where it cannot remember a reload or has no service worker, and says why', () => {
    const reason = (env: Partial<IsolationEnvironment>) => {
      const step = isolationStep({ ...plainHost, ...env });
      if (step.action !== 'none' || step.isolation.isolated) throw new Error(`expected a reason, got ${JSON.stringify(step)}`);
      return step.isolation.reason;
    };
    expect(reason({ reloaded: true })).toMatch(/no Cross-Origin-Opener-Policy\/Cross-Origin-Embedder-Policy headers, and the page's service worker did not make it isolated after one reload/);
    expect(reason({ serviceWorkers: false })).toMatch(/service workers, which could add them, are unavailable here \(they need https:\/\/ or localhost\)/);
    expect(reason({ sessionStorage: false })).toMatch(/without session storage/);
    expect(reason({ production: false })).toMatch(/development server/);
  });
});

describe('the engine line of the run status', () => {
  const threads = { name: 'wasm', description: 'WebAssembly engine: allocator.relaxed-threads.wasm (relaxed SIMD (fused multiply-add)), 2 threads over one shared memory.' };
  const single = {
    name: 'wasm',
    description:
      'WebAssembly engine: allocator.relaxed.wasm (relaxed SIMD (fused multiply-add)), single thread. 2 threads were requested, but SharedArrayBuffer is unavailable: the page is not cross-origin isolated (...), so it runs single-threaded.',
  };
  const notIsolated = { isolated: false, reason: 'this host sends no headers' } as const;

  it("names the engine's build and threads", () => {
    expect(engineLine(threads, { isolated: true }, false)).toBe(threads.description);
    expect(engineLine({ name: 'webgpu', description: 'WebGPU on x' }, notIsolated, false)).toBe('WebGPU on x.');
  });

  it('adds why a single-threaded engine is: not isolated (and why not), or one file given by ?wasm=', () => {
    expect(engineLine(single, notIsolated, false)).toBe(`${single.description} Why it is not isolated: this host sends no headers.`);
    expect(engineLine(single, notIsolated, true)).toBe(`${single.description} The allocator given by ?wasm= is the single-thread build.`);
  });
});
