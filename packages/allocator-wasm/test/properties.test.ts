import fc from 'fast-check';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Allocator, AllocatorError, BlockPool } from '../src/index.js';

/** What the pool should hold: per live sequence, per (layer, head), the positions of its rows in order. */
interface ModelSequence {
  handle: number;
  layers: number;
  kvHeads: number;
  heads: number[][];
}

const RECENT_WINDOW = 2;

const operation = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), layers: fc.integer({ min: 1, max: 3 }), kvHeads: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(), stale: fc.boolean() }),
  fc.record({ kind: fc.constant('append' as const), pick: fc.nat(), layer: fc.nat(), tokens: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant('compact' as const), pick: fc.nat(), layer: fc.nat(), keep: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('exhaust' as const), pick: fc.nat() }),
);

// The release build, and the debug build (assert()s re-check the whole pool after every change) that
// `npm test` builds first; CI must have it.
const debugWasm = fileURLToPath(new URL('../build/allocator.debug.wasm', import.meta.url));
const builds = [['release', undefined]] as Array<[string, string | undefined]>;
if (existsSync(debugWasm) || process.env.CI === 'true') builds.push(['debug', debugWasm]);

it.each(builds)('keeps every invariant over random operation sequences (%s build)', async (_build, source) => {
  const allocator = await Allocator.load(source);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 40 }),
      fc.array(operation, { maxLength: 40 }),
      (blockSize, headDim, maxBlocks, operations) => {
        const pool = BlockPool.inAllocator(allocator, { headDim, blockSize, maxBlocks });
        const live: ModelSequence[] = [];
        const dead: number[] = [];
        let nextPosition = 0;
        const append = (sequence: ModelSequence, layer: number, tokens: number) => {
          const positions = Int32Array.from({ length: tokens }, () => nextPosition++);
          const keys = new Float32Array(tokens * sequence.kvHeads * headDim);
          positions.forEach((position, t) => {
            for (let h = 0; h < sequence.kvHeads; h++) keys.fill(position + h / 10, (t * sequence.kvHeads + h) * headDim, (t * sequence.kvHeads + h + 1) * headDim);
          });
          pool.append(sequence.handle, layer, keys, keys.map((k) => -k), positions);
          for (let h = 0; h < sequence.kvHeads; h++) sequence.heads[layer * sequence.kvHeads + h]!.push(...positions);
        };
        for (const op of operations) {
          const sequence = live.length ? live[('pick' in op ? op.pick : 0) % live.length]! : undefined;
          const before = pool.stats();
          try {
            if (op.kind === 'add') {
              const handle = pool.addSequence(op.layers, op.kvHeads);
              live.push({ handle, layers: op.layers, kvHeads: op.kvHeads, heads: Array.from({ length: op.layers * op.kvHeads }, () => []) });
            } else if (op.kind === 'remove' && (op.stale || !sequence)) {
              expect(() => pool.removeSequence(dead[op.pick % Math.max(1, dead.length)] ?? 0x7abc)).toThrow(AllocatorError);
            } else if (op.kind === 'remove' && sequence) {
              pool.removeSequence(sequence.handle);
              live.splice(live.indexOf(sequence), 1);
              dead.push(sequence.handle);
            } else if (op.kind === 'append' && sequence) {
              append(sequence, op.layer % sequence.layers, op.tokens);
            } else if (op.kind === 'exhaust' && sequence) {
              // Fill until the pool refuses; the refusal is checked against the state just before it.
              for (;;) {
                const beforeLast = pool.stats();
                try {
                  append(sequence, 0, blockSize);
                } catch (error) {
                  expect((error as AllocatorError).code).toBe('POOL_EXHAUSTED');
                  expect({ ...pool.stats(), metadataBytes: 0 }).toEqual({ ...beforeLast, metadataBytes: 0 });
                  break;
                }
              }
            } else if (op.kind === 'compact' && sequence) {
              const layer = op.layer % sequence.layers;
              const kept = Array.from({ length: sequence.kvHeads }, (_, h) => {
                const length = sequence.heads[layer * sequence.kvHeads + h]!.length;
                // The most recent entries are protected, as the decode-time window is.
                return Int32Array.from({ length }, (_, i) => i).filter((i) => i >= length - RECENT_WINDOW || op.keep[(i + h) % 64]);
              });
              pool.compact(sequence.handle, layer, kept);
              kept.forEach((list, h) => {
                const rows = sequence.heads[layer * sequence.kvHeads + h]!;
                sequence.heads[layer * sequence.kvHeads + h] = Array.from(list, (i) => rows[i]!);
              });
            }
          } catch (error) {
            // Only running out of blocks may fail, and it must leave the pool exactly as it was.
            expect((error as AllocatorError).code).toBe('POOL_EXHAUSTED');
            // (Block tables may have reserved capacity; what they hold must not change.)
            expect({ ...pool.stats(), metadataBytes: 0 }).toEqual({ ...before, metadataBytes: 0 });
          }
          pool.check(); // no block owned twice, free + used = total, tables match lengths
          const stats = pool.stats();
          expect(stats.freeBlocks + stats.usedBlocks).toBe(stats.totalBlocks);
          expect(stats.totalBlocks).toBeLessThanOrEqual(maxBlocks);
          let used = 0;
          for (const model of live) {
            model.heads.forEach((positions, index) => {
              const layer = Math.floor(index / model.kvHeads);
              const head = index % model.kvHeads;
              expect(Array.from(pool.positions(model.handle, layer, head))).toEqual(positions);
              const keys = pool.keys(model.handle, layer, head);
              positions.forEach((position, row) => expect(keys[row * headDim]).toBeCloseTo(position + head / 10, 3));
              used += Math.ceil(positions.length / blockSize);
            });
          }
          expect(stats.usedBlocks).toBe(used);
        }
        pool.dispose();
      },
    ),
    { numRuns: 150 },
  );
});
