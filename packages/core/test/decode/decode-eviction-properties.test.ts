import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeEviction, ReferenceBackend, ReferenceStore, getMethod, methodNames } from '../../src/index.js';
import { randomOutputProjection } from '../compression/random-observations.js';
import { decodeStream, heldPositions, runStream } from './decode-stream.js';

// Decode-time eviction over random streams, every evicting method: the protected recent window is
// never evicted, the cache never stays over its limit after a step, and nothing is evicted that was
// not there (held positions are a subset of those appended, in order).

const evicting = methodNames.filter((name) => getMethod(name).scorer !== null);

describe('decode-time eviction properties', () => {
  it('keeps every head\'s recent window, stays within the limit after each step, evicts only what it holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          method: fc.constantFrom(...evicting),
          layers: fc.integer({ min: 1, max: 3 }),
          kvHeads: fc.integer({ min: 1, max: 3 }),
          group: fc.integer({ min: 1, max: 3 }),
          promptLength: fc.integer({ min: 1, max: 30 }),
          steps: fc.integer({ min: 1, max: 24 }),
          window: fc.integer({ min: 1, max: 6 }),
          every: fc.integer({ min: 1, max: 5 }),
          slack: fc.integer({ min: 0, max: 10 }),
          blockSize: fc.integer({ min: 1, max: 4 }),
          maxEvictPerStep: fc.integer({ min: 0, max: 12 }),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        async (c) => {
          const geometry = { layers: c.layers, kvHeads: c.kvHeads, queryHeads: c.kvHeads * c.group, headDim: 4 };
          const limit = c.window + c.every + c.slack;
          const store = new ReferenceStore(geometry);
          const options = { window: c.window, blockSize: c.blockSize, maxEvictPerStep: c.maxEvictPerStep };
          const outputProjection = randomOutputProjection(geometry, 6, c.seed);
          const policy = new DecodeEviction(new ReferenceBackend(), store, { method: c.method, maxTokensPerHead: limit, every: c.every, options, outputProjection });
          const joint = policy.mode === 'joint';
          const bounded = joint && c.maxEvictPerStep > 0; // a per-step limit may leave the sequence over its target for a while
          await runStream(store, policy, decodeStream(geometry, c.promptLength, c.steps, c.seed), (step) => {
            const newest = c.promptLength + step; // the newest position appended
            const held = heldPositions(store);
            for (const layer of held) {
              for (const positions of layer) {
                positions.forEach((p, i) => i > 0 && expect(p).toBeGreaterThan(positions[i - 1]!));
                const recent = Array.from({ length: Math.min(c.window, newest + 1) }, (_, i) => newest - i);
                for (const p of recent) expect(positions).toContain(p);
              }
              // a joint method bounds the sequence, the others every layer; a joint one may overshoot by under a block per head
              if (!joint) expect(layer.flat().length).toBeLessThanOrEqual(c.kvHeads * limit);
            }
            if (joint && !bounded) expect(held.flat(2).length).toBeLessThanOrEqual(c.layers * c.kvHeads * (limit + c.blockSize - 1));
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});
