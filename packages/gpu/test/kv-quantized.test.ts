import { describe, expect, it } from 'vitest';
import { GpuError, GpuKvPool, GpuLlamaDecoder, GpuPagedCache, type LlamaShape, gpuKvBlockBytes } from '../src/index.js';
import { halfToFloat } from '../src/half.js';
import { random, randomLlama, testGpu } from './helpers.js';

// int8 / int4 K/V storage against a twin of the WASM pool (allocator-wasm kv_format.cpp, append.cpp,
// compact.cpp) in f32 arithmetic (Math.fround: f64 quotients of f32 values round to the f32 quotient),
// row for row and bit for bit; attention against an f64 reference over the twin's dequantized rows.

const { gpu, d: dispatcher } = await testGpu();

type Quantized = 'int8' | 'int4';
const levelsOf = (format: Quantized) => (format === 'int8' ? 127 : 7);

function nearestEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const bitsF32 = (bits: number) => new Float32Array(Uint32Array.of(bits).buffer)[0]!;

/** f32 to binary16 bits, rounding to nearest even, for x >= 0 (kv_format.cpp's floatToHalf). */
function floatToHalf(x: number): number {
  const bits = f32Bits(x);
  const exponent = (bits >>> 23) & 0xff;
  const e = exponent - 112;
  if (exponent === 0xff || e >= 0x1f) return 0x7c00;
  if (e <= 0) {
    if (e < -10) return 0;
    const mantissa = (bits & 0x7fffff) | 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const [rest, halfway] = [mantissa % 2 ** shift, 2 ** (shift - 1)];
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return half;
  }
  let half = (e << 10) | ((bits & 0x7fffff) >>> 13);
  const rest = bits & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is right
  return half;
}

/** The binary16 a block stores for an exact f32 scale: the smallest one >= it, at most 65504 (kv_format.cpp's scaleHalf). */
function scaleHalf(exact: number): number {
  if (!(exact > 0)) return 0;
  let h = floatToHalf(exact);
  if (h >= 0x7c00) return 0x7bff;
  if (halfToFloat(h) < exact) h++;
  return Math.min(h, 0x7bff);
}

/** fl(max|x| / levels): the scale before it is stored. */
const exactScale = (xs: number[], levels: number) => Math.fround(xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0) / levels);
/** The stored (rounded up) scale, as f32: what the levels divide by and decoding multiplies by. */
const scaleOf = (xs: number[], levels: number) => halfToFloat(scaleHalf(exactScale(xs, levels)));

/** Where binary16 `h` is not the smallest binary16 >= `exact` (65504 above it): a description, else null. */
function notSmallestAbove(h: number, exact: number): string | null {
  const ok = exact > 65504 ? h === 0x7bff : halfToFloat(h) >= exact && (h === 0 || halfToFloat(h - 1) < exact);
  return ok ? null : `${h.toString(16)} for ${exact}`;
}
/** q x s as the WASM pool decodes it (q an integer level: never -0). */
const roundTrip = (x: number, s: number, levels: number) => (s === 0 ? 0 : Math.fround((Math.min(levels, Math.max(-levels, nearestEven(Math.fround(x / s)))) + 0) * s));

/**
 * Encodes rows `[rows][d]` of K and V as the WASM pool encodes a block over them; returns what it reads
 * back, the scales (stored, as f32), their binary16 codes and the exact f32 scales they round up.
 */
function encodeBlock(format: Quantized, keys: number[][], values: number[][]) {
  const levels = levelsOf(format);
  const d = keys[0]!.length;
  const keyExact = Array.from({ length: d }, (_, c) => exactScale(keys.map((row) => row[c]!), levels));
  const group = format === 'int8' ? d : 32;
  const valueExact = values.map((row) => Array.from({ length: Math.ceil(d / group) }, (_, g) => exactScale(row.slice(g * group, (g + 1) * group), levels)));
  const keyCodes = keyExact.map(scaleHalf);
  const valueCodes = valueExact.map((row) => row.map(scaleHalf));
  const keyScales = keyCodes.map(halfToFloat);
  const valueScales = valueCodes.map((row) => row.map(halfToFloat));
  return {
    keys: keys.map((row) => row.map((x, c) => roundTrip(x, keyScales[c]!, levels))),
    values: values.map((row, r) => row.map((x, c) => roundTrip(x, valueScales[r]![Math.floor(c / group)]!, levels))),
    keyScales,
    valueScales,
    keyCodes,
    valueCodes,
    keyExact,
    valueExact,
  };
}

/** One head of a WASM int8 / int4 pool: what readRow gives for each row, and whether the last block is the f32 residual. */
class TwinHead {
  keys: number[][] = [];
  values: number[][] = [];
  positions: number[] = [];
  residual = false;
  constructor(readonly format: Quantized, readonly blockSize: number) {}

  append(key: number[], value: number[], position: number): void {
    const B = this.blockSize;
    const slot = this.keys.length % B;
    if (slot === 0 || !this.residual) this.residual = true; // a new block, or an encoded partial block decoded into the residual
    this.keys.push(key.map(Math.fround));
    this.values.push(value.map(Math.fround));
    this.positions.push(position);
    if (slot + 1 === B) {
      this.encode(this.keys.length - B, B);
      this.residual = false;
    }
  }

  private encode(first: number, rows: number): void {
    const block = encodeBlock(this.format, this.keys.slice(first, first + rows), this.values.slice(first, first + rows));
    this.keys.splice(first, rows, ...block.keys);
    this.values.splice(first, rows, ...block.values);
  }

  compact(kept: Int32Array): void {
    const B = this.blockSize;
    const count = kept.length;
    if (count === this.keys.length) return;
    let first = 0;
    while (first < count && kept[first] === first) first++;
    const blocksBefore = Math.ceil(this.keys.length / B);
    const keepBlocks = Math.ceil(count / B);
    this.keys = Array.from(kept, (i) => this.keys[i]!);
    this.values = Array.from(kept, (i) => this.values[i]!);
    this.positions = Array.from(kept, (i) => this.positions[i]!);
    if (first === count) {
      if (blocksBefore > keepBlocks) this.residual = false;
      return;
    }
    for (let b = Math.floor(first / B); b < keepBlocks; b++) this.encode(b * B, Math.min(B, count - b * B));
    this.residual = false;
  }
}

/** The twin of one layer: heads of [tokens][kvHeads][headDim] rows. */
class TwinLayer {
  readonly heads: TwinHead[];
  constructor(format: Quantized, readonly kvHeads: number, readonly headDim: number, blockSize: number) {
    this.heads = Array.from({ length: kvHeads }, () => new TwinHead(format, blockSize));
  }
  append(keys: Float32Array, values: Float32Array, positions: ArrayLike<number>): void {
    const d = this.headDim;
    for (let t = 0; t < positions.length; t++) {
      this.heads.forEach((head, h) => {
        const at = (t * this.kvHeads + h) * d;
        head.append(Array.from(keys.subarray(at, at + d)), Array.from(values.subarray(at, at + d)), positions[t]!);
      });
    }
  }
  /** f64 attention over the dequantized rows, query head q over KV head q / group. */
  attend(queries: Float32Array, group: number): Float64Array {
    const d = this.headDim;
    const out = new Float64Array(queries.length);
    for (let q = 0; q < queries.length / d; q++) {
      const head = this.heads[Math.floor(q / group)]!;
      if (head.keys.length === 0) continue;
      const logits = head.keys.map((k) => k.reduce((s, v, i) => s + v * queries[q * d + i]!, 0) / Math.sqrt(d));
      const max = Math.max(...logits);
      const weights = logits.map((l) => Math.exp(l - max));
      const sum = weights.reduce((a, b) => a + b, 0);
      for (let i = 0; i < d; i++) out[q * d + i] = head.values.reduce((s, v, r) => s + (weights[r]! / sum) * v[i]!, 0);
    }
    return out;
  }
}

async function expectSameRows(cache: GpuPagedCache, layer: number, twin: TwinLayer): Promise<void> {
  for (let h = 0; h < twin.kvHeads; h++) {
    expect(Array.from(cache.positions(layer, h))).toEqual(twin.heads[h]!.positions);
    expect(Array.from(await cache.rows(layer, h, 'keys'))).toEqual(twin.heads[h]!.keys.flat());
    expect(Array.from(await cache.rows(layer, h, 'values'))).toEqual(twin.heads[h]!.values.flat());
  }
}

function expectAttention(actual: Float32Array, expected: Float64Array): void {
  let worst = 0;
  expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(actual[i]! - v) / Math.max(1, Math.abs(v)))));
  expect(worst).toBeLessThanOrEqual(1e-5);
}

describe.each<Quantized>(['int8', 'int4'])('%s K/V storage on the GPU', (format) => {
  it('round-trips rows within half a scale, as the WASM pool encodes them (full blocks encoded, the last one in f32)', async () => {
    const [kvHeads, headDim, blockSize] = [2, 40, 8]; // 40 channels: int4 values in a group of 32 and one of 8
    const n = 37; // 4 full blocks and 5 residual rows per head
    const levels = levelsOf(format);
    const rnd = random(format === 'int8' ? 3 : 4);
    // channels of different ranges; channel 0 around 1e-6 (its scale a binary16 subnormal), channel 1
    // past 65504 x levels (its scale saturated: its largest elements clamp)
    const range = (c: number) => (c === 0 ? 1e-6 : c === 1 ? 65504 * levels * 4 : 1 + c);
    const keys = Float32Array.from({ length: n * kvHeads * headDim }, (_, i) => rnd() * range(i % headDim));
    // values: rows around 1e-6, and rows with one element past 65504 x levels
    const values = Float32Array.from({ length: keys.length }, (_, i) => {
      const t = Math.floor(i / (kvHeads * headDim));
      return rnd() * (t % 5 === 0 ? 1e-6 : t % 5 === 1 && i % headDim === 3 ? 65504 * levels * 4 : 2);
    });
    const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: 4, kvHeads, headDim, blockSize, kvFormat: format });
    cache.append(0, keys, values, Int32Array.from({ length: n }, (_, t) => t));
    const twin = new TwinLayer(format, kvHeads, headDim, blockSize);
    twin.append(keys, values, Int32Array.from({ length: n }, (_, t) => t));
    await expectSameRows(cache, 0, twin);
    const { keyBlockBytes, valueBlockBytes } = cache.pool;
    const storage = cache.pool.layers[0]!;
    const tables = (cache as unknown as { tables: { blocks: number[] }[][] }).tables; // the heads' blocks
    const bad: string[] = [];
    let [subnormal, saturated] = [0, 0];
    for (let h = 0; h < kvHeads; h++) {
      const storedKeys = await cache.rows(0, h, 'keys');
      const storedValues = await cache.rows(0, h, 'values');
      const row = (data: Float32Array, t: number) => Array.from(data.subarray((t * kvHeads + h) * headDim, (t * kvHeads + h + 1) * headDim));
      for (let b = 0; b * blockSize < n; b++) {
        const rows = Array.from({ length: Math.min(blockSize, n - b * blockSize) }, (_, r) => b * blockSize + r);
        const full = rows.length === blockSize;
        const block = encodeBlock(format, rows.map((t) => row(keys, t)), rows.map((t) => row(values, t)));
        if (full) {
          // the stored scales: the smallest binary16 >= the exact f32 scale (65504 past it), two per word
          const at = tables[0]![h]!.blocks[b]!;
          const keyHalves = new Uint16Array(await cache.dispatcher.read(storage.keys, keyBlockBytes, at * keyBlockBytes));
          const valueHalves = new Uint16Array(await cache.dispatcher.read(storage.values, valueBlockBytes, at * valueBlockBytes));
          expect(Array.from(keyHalves.subarray(2, 2 + headDim))).toEqual(block.keyCodes); // after the marker word
          expect(Array.from(valueHalves.subarray(0, block.valueCodes.flat().length))).toEqual(block.valueCodes.flat());
          const codes = [...block.keyCodes, ...block.valueCodes.flat()];
          const exact = [...block.keyExact, ...block.valueExact.flat()];
          for (const [i, code] of codes.entries()) bad.push(...(notSmallestAbove(code, exact[i]!) ?? []));
          subnormal += codes.filter((code) => code > 0 && code < 0x400).length;
          saturated += exact.filter((scale) => scale > 65504).length;
        }
        rows.forEach((t, r) => {
          for (let c = 0; c < headDim; c++) {
            const [k, v] = [storedKeys[t * headDim + c]!, storedValues[t * headDim + c]!];
            const [x, y] = [row(keys, t)[c]!, row(values, t)[c]!];
            if (!full) {
              if (k !== x || v !== y) bad.push(`residual ${t} ${c}`); // the residual: exact
              continue;
            }
            const ks = block.keyScales[c]!;
            const vs = block.valueScales[r]![Math.floor(c / (format === 'int8' ? headDim : 32))]!;
            for (const [stored, input, s] of [[k, x, ks], [v, y, vs]] as const) {
              // within half the stored scale, unless past levels x s: then clamped to +-levels x s
              const ok = Math.abs(input) <= levels * s ? Math.abs(stored - input) <= (s / 2) * (1 + 1e-6) : stored === Math.sign(input) * Math.fround(levels * s);
              if (!ok) bad.push(`row ${t} channel ${c}: ${stored} for ${input}, scale ${s}`);
            }
          }
        });
      }
    }
    expect(bad).toEqual([]);
    expect(subnormal).toBeGreaterThan(0);
    expect(saturated).toBeGreaterThan(0);
    cache.destroy();
  });

  it('stores each scale as the smallest binary16 >= the exact f32 scale, two per word, subnormal and saturated ones included (kv-encode, kv-read-rows)', async () => {
    const levels = levelsOf(format);
    // odd counts of key scales (int8) and value scales: the last word's high half stays 0
    const [d, B] = format === 'int8' ? [71, 3] : [70, 3];
    const groups = format === 'int8' ? 1 : Math.ceil(d / 32);
    const group = format === 'int8' ? d : 32;
    const perWord = format === 'int8' ? 4 : 8;
    const dataWords = Math.ceil((B * d) / perWord);
    const [keyWords, valueWords] = [1 + Math.ceil(d / 2) + dataWords, Math.ceil((B * groups) / 2) + dataWords];
    expect(4 * (keyWords + valueWords)).toBe(gpuKvBlockBytes(format, B, d));
    const rnd = random(format === 'int8' ? 21 : 22);
    const randomHalf = () => 1 + Math.floor(((rnd() + 1) / 2) * 0x7bfe);
    // peaks of the key channels: zero, subnormal f32, binary16 subnormal and normal scales, exact
    // binary16 scales and their f32 neighbours, 65504 x levels and past it, and f32s of every exponent
    const special = [
      0, bitsF32(1), bitsF32((levels - 1) / 2), bitsF32((levels + 1) / 2), bitsF32(0x7fffff), 2 ** -126, 1e-6, 1.3e-6, 3e-6, 1e-5,
      Math.fround(2 ** -14 * levels), Math.fround(2 ** -24 * levels), Math.fround(65504 * levels), Math.fround(65504 * levels * 1.5), 3e38,
    ];
    const peaks = Array.from({ length: d }, (_, c) => {
      if (c < special.length) return Math.fround(special[c]!);
      const kind = c % 4;
      if (kind === 0) return bitsF32((Math.floor(((rnd() + 1) / 2) * 254) << 23) | Math.floor(((rnd() + 1) / 2) * 0x7fffff)); // any exponent
      const exact = Math.fround(halfToFloat(randomHalf()) * levels);
      return kind === 1 ? exact : bitsF32(f32Bits(exact) + (kind === 2 ? 1 : -1));
    });
    // rows: row 0 holds the channel's peak, the others smaller elements of either sign
    const keys = Array.from({ length: B }, (_, r) => peaks.map((peak) => Math.fround(r === 0 ? (rnd() < 0 ? -peak : peak) : peak * rnd())));
    // values: a row around 1e-6, one with an element past 65504 x levels, one of f32s of any size
    const values = Array.from({ length: B }, (_, r) =>
      Array.from({ length: d }, (_, c) => Math.fround(r === 0 ? rnd() * 1e-6 : r === 1 ? (c === 5 ? 65504 * levels * 3 : rnd()) : peaks[(c * 7) % d]! * rnd())),
    );
    const block = encodeBlock(format, keys, values);
    // encode into block 1 of 2 (its offsets), from source rows 0 .. B - 1
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const keyBuffer = dispatcher.temp(8 * keyWords, usage);
    const valueBuffer = dispatcher.temp(8 * valueWords, usage);
    dispatcher.run(format === 'int8' ? 'encodeBlocksInt8' : 'encodeBlocksInt4', { headDim: d, blockSize: B, jobs: 1 }, [
      keyBuffer,
      valueBuffer,
      dispatcher.temp(12, GPUBufferUsage.STORAGE, Uint32Array.of(1, 0, B)),
      dispatcher.temp(B * d * 4, GPUBufferUsage.STORAGE, Float32Array.from(keys.flat())),
      dispatcher.temp(B * d * 4, GPUBufferUsage.STORAGE, Float32Array.from(values.flat())),
    ], { groups: 1 });
    const outKeys = dispatcher.temp(B * d * 4, usage);
    const outValues = dispatcher.temp(B * d * 4, usage);
    const residual = dispatcher.temp(16, GPUBufferUsage.STORAGE);
    const sources = Uint32Array.from({ length: B }, (_, r) => (B + r) * d); // block 1's rows
    dispatcher.run(format === 'int8' ? 'readRowsInt8' : 'readRowsInt4', { headDim: d, blockSize: B, rows: B }, [
      keyBuffer, valueBuffer, dispatcher.temp(sources.byteLength, GPUBufferUsage.STORAGE, sources), outKeys, outValues, null, residual, residual,
    ], { threads: B * d });
    const [kw, vw, ok, ov] = await dispatcher.readStaged([dispatcher.stage(keyBuffer, 8 * keyWords), dispatcher.stage(valueBuffer, 8 * valueWords), dispatcher.stage(outKeys, B * d * 4), dispatcher.stage(outValues, B * d * 4)]);
    const keyWordsRead = new Uint32Array(kw!);
    const valueWordsRead = new Uint32Array(vw!);
    expect(Array.from(keyWordsRead.subarray(0, keyWords)).every((w) => w === 0)).toBe(true); // block 0 untouched
    const key = keyWordsRead.subarray(keyWords);
    const value = valueWordsRead.subarray(valueWords);
    expect(key[0]).toBe(0xffffffff); // the marker: encoded
    const halves = (words: Uint32Array, count: number) => Array.from({ length: 2 * Math.ceil(count / 2) }, (_, i) => (words[i >> 1]! >>> (16 * (i & 1))) & 0xffff);
    expect(halves(key.subarray(1), d)).toEqual([...block.keyCodes, ...(d % 2 ? [0] : [])]);
    expect(halves(value, B * groups)).toEqual([...block.valueCodes.flat(), ...((B * groups) % 2 ? [0] : [])]);
    const bad = [...block.keyCodes.map((h, c) => notSmallestAbove(h, block.keyExact[c]!)), ...block.valueCodes.flat().map((h, i) => notSmallestAbove(h, block.valueExact.flat()[i]!))];
    expect(bad.filter((b) => b !== null)).toEqual([]);
    // what the cases cover: zero, subnormal and saturated scales, scales that are binary16 exactly and not
    const codes = [...block.keyCodes, ...block.valueCodes.flat()];
    const exact = [...block.keyExact, ...block.valueExact.flat()];
    expect(codes.filter((h) => h === 0).length).toBeGreaterThan(1);
    expect(codes.filter((h) => h > 1 && h < 0x400).length).toBeGreaterThan(1);
    expect(codes.filter((h, i) => h === 1 && exact[i]! < 2 ** -24).length).toBeGreaterThan(1);
    expect(exact.filter((s) => s > 65504).length).toBeGreaterThan(2);
    expect(codes.filter((h, i) => h < 0x7bff && halfToFloat(h) === exact[i]).length).toBeGreaterThan(5);
    expect(codes.filter((h, i) => h < 0x7bff && h > 0x400 && halfToFloat(h) > exact[i]!).length).toBeGreaterThan(5);
    // the levels, over the stored scales, as the twin rounds them
    const level = (words: Uint32Array, e: number) => (perWord === 4 ? ((words[e >> 2]! >>> (8 * (e & 3))) << 24) >> 24 : ((words[e >> 3]! >>> (4 * (e & 7))) & 15) - 8);
    const levelsOfBlock = (data: Uint32Array) => Array.from({ length: B * d }, (_, e) => level(data, e));
    const expectedLevels = (rows: number[][], scale: (r: number, c: number) => number) =>
      rows.flatMap((row, r) => row.map((x, c) => {
        const s = scale(r, c);
        return s === 0 ? 0 : Math.min(levels, Math.max(-levels, nearestEven(Math.fround(x / s)))) + 0; // + 0: no -0
      }));
    expect(levelsOfBlock(key.subarray(1 + Math.ceil(d / 2)))).toEqual(expectedLevels(keys, (_, c) => block.keyScales[c]!));
    expect(levelsOfBlock(value.subarray(Math.ceil((B * groups) / 2)))).toEqual(expectedLevels(values, (r, c) => block.valueScales[r]![Math.floor(c / group)]!));
    // decoded through keyAt / valueAt: q x s bit for bit (subnormal binary16 scales converted in integers)
    expect(Array.from(new Float32Array(ok!))).toEqual(block.keys.flat());
    expect(Array.from(new Float32Array(ov!))).toEqual(block.values.flat());
    // within half the stored scale where not clamped, else clamped to +-levels x s
    const far: string[] = [];
    const check = (rows: number[][], decoded: number[][], scale: (r: number, c: number) => number) =>
      rows.forEach((row, r) => row.forEach((x, c) => {
        const s = scale(r, c);
        const y = decoded[r]![c]!;
        const fine = Math.abs(x) <= levels * s ? Math.abs(y - x) <= (s / 2) * (1 + 1e-6) : y === Math.sign(x) * Math.fround(levels * s);
        if (!fine) far.push(`${r} ${c}: ${y} for ${x}, scale ${s}`);
      }));
    check(keys, block.keys, (_, c) => block.keyScales[c]!);
    check(values, block.values, (r, c) => block.valueScales[r]![Math.floor(c / group)]!);
    expect(far).toEqual([]);
  });

  it('appends, compacts arbitrary rows and attends as the WASM pool does (GQA, odd block counts, residual blocks)', async () => {
    for (const [seed, kvHeads, group, headDim, blockSize] of [
      [1, 1, 1, 8, 4],
      [2, 2, 3, 6, 5],
      [3, 3, 2, 40, 4],
      [4, 2, 4, 16, 1],
      [5, 1, 10, 12, 3],
      ...(format === 'int8' ? ([[6, 2, 2, 7, 3]] as const) : []), // an odd head dim: levels straddle rows in a word
    ] as const) {
      const rnd = random(seed * 31 + (format === 'int8' ? 0 : 7));
      const layers = 2;
      const cache = new GpuPagedCache(gpu, { layers, queryHeads: kvHeads * group, kvHeads, headDim, blockSize, kvFormat: format });
      const twins = Array.from({ length: layers }, () => new TwinLayer(format, kvHeads, headDim, blockSize));
      let length = 0;
      for (let round = 0; round < 4; round++) {
        const tokens = [1 + Math.floor((rnd() + 1) * 13), 1, 2 * blockSize + 1, 1][round]!;
        const positions = Int32Array.from({ length: tokens }, (_, t) => length + t);
        length += tokens;
        for (let layer = 0; layer < layers; layer++) {
          const keys = Float32Array.from({ length: tokens * kvHeads * headDim }, () => rnd() * 3);
          const values = Float32Array.from({ length: keys.length }, () => rnd());
          cache.append(layer, keys, values, positions);
          twins[layer]!.append(keys, values, positions);
          await expectSameRows(cache, layer, twins[layer]!);
          const queries = Float32Array.from({ length: kvHeads * group * headDim }, () => rnd() * 2);
          expectAttention(await cache.attend(layer, queries), twins[layer]!.attend(queries, group));
          // compaction: arbitrary rows, a prefix (nothing moves), or everything but the last row
          const kept = twins[layer]!.heads.map((head, h) => {
            const all = Int32Array.from({ length: head.keys.length }, (_, t) => t);
            const kind = (round + h + layer) % 3;
            if (kind === 0) return all.filter(() => rnd() > -0.3);
            if (kind === 1) return all.subarray(0, Math.max(0, all.length - 1 - Math.floor((rnd() + 1) * blockSize)));
            return all.filter((t) => t !== all.length - 2);
          });
          cache.compact(layer, kept);
          twins[layer]!.heads.forEach((head, h) => head.compact(kept[h]!));
          await expectSameRows(cache, layer, twins[layer]!);
          expectAttention(await cache.attend(layer, queries), twins[layer]!.attend(queries, group));
        }
      }
      expect(cache.dispatcher.liveTemporary).toBe(0); // every staging and table buffer destroyed after its submit
      cache.destroy();
      expect(cache.liveBuffers).toBe(0);
    }
  });

  it('reads its blocks in every kernel exactly as an f32 cache holding the dequantized rows (batched attention, eviction scores, chunked prefill)', async () => {
    const [kvHeads, group, headDim, blockSize] = [2, 2, 16, 4];
    const rnd = random(format === 'int8' ? 11 : 12);
    const pool = new GpuKvPool(gpu, { layers: 1, queryHeads: kvHeads * group, kvHeads, headDim, blockSize, kvFormat: format, maxBlocks: 64 });
    const sequences = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const twins = sequences.map(() => new TwinLayer(format, kvHeads, headDim, blockSize));
    [13, 8, 22].forEach((n, i) => {
      const keys = Float32Array.from({ length: n * kvHeads * headDim }, () => rnd());
      const values = Float32Array.from({ length: keys.length }, () => rnd());
      const positions = Int32Array.from({ length: n }, (_, t) => t);
      sequences[i]!.append(0, keys, values, positions);
      twins[i]!.append(keys, values, positions);
    });
    const kept = twins[2]!.heads.map((head, h) => Int32Array.from({ length: head.keys.length }, (_, t) => t).filter((t) => (t + h) % 4 !== 1));
    sequences[2]!.compact(0, kept);
    twins[2]!.heads.forEach((head, h) => head.compact(kept[h]!));
    // f32 twins on the GPU holding the dequantized rows: the same kernels, the same arithmetic
    const plain = twins.map((twin) => {
      const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: kvHeads * group, kvHeads, headDim, blockSize });
      // heads of a compacted sequence differ in length: append the longest, then keep each head's prefix
      const longest = Math.max(...twin.heads.map((head) => head.keys.length));
      const keys = new Float32Array(longest * kvHeads * headDim);
      const values = new Float32Array(keys.length);
      twin.heads.forEach((head, h) => head.keys.forEach((row, t) => {
        keys.set(row, (t * kvHeads + h) * headDim);
        values.set(head.values[t]!, (t * kvHeads + h) * headDim);
      }));
      cache.append(0, keys, values, Int32Array.from({ length: longest }, (_, t) => t));
      cache.compact(0, twin.heads.map((head) => Int32Array.from(head.positions.map((_, t) => t))));
      return cache;
    });
    const rowFloats = kvHeads * group * headDim;
    const queries = Float32Array.from({ length: 3 * rowFloats }, () => rnd() * 2);
    const batched = async (caches: GpuPagedCache[]) => {
      const d = caches[0]!.dispatcher;
      const out = d.temp(queries.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      GpuPagedCache.encodeAttendBatch(0, caches, d.temp(queries.byteLength, GPUBufferUsage.STORAGE, queries), out);
      return new Float32Array(await d.read(out, queries.byteLength));
    };
    const quantizedOut = await batched(sequences);
    const plainOut = new Float32Array(queries.length);
    for (let i = 0; i < 3; i++) plainOut.set(await plain[i]!.attend(0, queries.subarray(i * rowFloats, (i + 1) * rowFloats)), i * rowFloats);
    expect(Array.from(quantizedOut)).toEqual(Array.from(plainOut));
    twins.forEach((twin, i) => expectAttention(quantizedOut.subarray(i * rowFloats, (i + 1) * rowFloats), twin.attend(queries.subarray(i * rowFloats, (i + 1) * rowFloats), group)));

    // eviction scores read the keys through keyAt too (residual rows included)
    const options = { scorer: 'snapkv', window: 3, protectedCount: 3, selectable: 3, allocation: 'adaptive' } as const;
    for (const cache of [sequences[0]!, plain[0]!]) {
      cache.recordQueries(3);
      cache.seedQueries(0, queries, Int32Array.of(20, 21, 22));
    }
    expect((await sequences[0]!.evictionScores(0, options)).map((s) => Array.from(s))).toEqual((await plain[0]!.evictionScores(0, options)).map((s) => Array.from(s)));
    expect(await sequences[0]!.planEviction(0, options)).toEqual(await plain[0]!.planEviction(0, options));

    // chunked-prefill attention over the cache's rows (sequence 0 holds positions 0..12 in every head)
    const chunk = Float32Array.from({ length: 5 * rowFloats }, () => rnd());
    const causal = async (cache: GpuPagedCache) => {
      const out = cache.dispatcher.temp(chunk.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      cache.encodeCausalAttend(0, cache.dispatcher.temp(chunk.byteLength, GPUBufferUsage.STORAGE, chunk), out, 8, 5);
      return Array.from(new Float32Array(await cache.dispatcher.read(out, chunk.byteLength)));
    };
    expect(await causal(sequences[0]!)).toEqual(await causal(plain[0]!));
    for (const cache of plain) cache.destroy();
    for (const cache of sequences) cache.destroy();
    expect(pool.stats().usedBlocks).toBe(0);
    expect(pool.stats().residualBytes).toBe(0);
    pool.destroy();
  });

  it('holds fewer bytes than f16, counts its residual rows, and refuses what it cannot store', () => {
    const shape = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 64, blockSize: 16 };
    const caches = (['f32', 'f16', format] as const).map((kvFormat) => new GpuPagedCache(gpu, { ...shape, kvFormat }));
    const n = 40; // two full blocks and 8 residual rows per head
    const rows = new Float32Array(n * 2 * 64).fill(0.25);
    for (const cache of caches) for (let layer = 0; layer < 2; layer++) cache.append(layer, rows, rows, Int32Array.from({ length: n }, (_, t) => t));
    const [f32, f16, quantized] = caches as [GpuPagedCache, GpuPagedCache, GpuPagedCache];
    const B = 16;
    const d = 64;
    // words of [marker][d / 2 key scale pairs][levels] and [value scale pairs][levels]
    const block = format === 'int8' ? 4 * (1 + d / 2 + (B * d) / 4) + 4 * (B / 2 + (B * d) / 4) : 4 * (1 + d / 2 + (B * d) / 8) + 4 * ((B * 2) / 2 + (B * d) / 8);
    expect(quantized.blockBytes).toBe(block);
    // against the WASM block (binary16 scales, padded to 4 bytes): its bytes plus the marker's 4 when
    // the scales and levels fill whole words, else up to 8 more (each part of the GPU block in whole words)
    const wasmBlock = (b: number, dim: number) =>
      Math.ceil((format === 'int8' ? 2 * dim + 2 * b + 2 * b * dim : 2 * dim + 2 * b * Math.ceil(dim / 32) + b * dim) / 4) * 4;
    expect(block).toBe(wasmBlock(B, d) + 4);
    for (const [b, dim] of [[16, 128], [16, 48], [3, 6], [5, 10], [1, 2], [7, 40], ...(format === 'int8' ? [[3, 7], [1, 1], [5, 33]] : [])] as const) {
      const gpuBlock = gpuKvBlockBytes(format, b, dim);
      const scaleWords = Math.ceil(dim / 2) + Math.ceil((format === 'int8' ? b : b * Math.ceil(dim / 32)) / 2);
      expect(gpuBlock).toBe(4 * (1 + scaleWords + 2 * Math.ceil((b * dim) / (format === 'int8' ? 4 : 8))));
      expect(gpuBlock - wasmBlock(b, dim)).toBeGreaterThanOrEqual(4);
      expect(gpuBlock - wasmBlock(b, dim)).toBeLessThanOrEqual(12);
    }
    // 2 layers x 2 heads x 3 blocks, and the 4 heads' f32 residual rows (K and V)
    expect(quantized.bytes()).toBe(12 * block + 4 * 2 * B * d * 4);
    expect(f16.bytes()).toBe(f32.bytes() / 2);
    expect(quantized.blockBytes).toBeLessThan(f16.blockBytes * (format === 'int8' ? 0.55 : 0.3));
    const stats = quantized.pool.stats();
    expect(stats.residualBytes).toBe(4 * 2 * B * d * 4);
    expect(stats.bufferBytes).toBeGreaterThanOrEqual(stats.totalBlocks * block + stats.residualBytes);
    for (const cache of caches) cache.destroy();
    // a fixed pool refuses an append past its blocks before anything changes
    const pool = new GpuKvPool(gpu, { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 8, blockSize: 4, kvFormat: format, maxBlocks: 2 });
    const cache = GpuPagedCache.inPool(pool);
    const eight = Float32Array.from({ length: 8 * 8 }, (_, i) => Math.sin(i));
    cache.append(0, eight.subarray(0, 6 * 8), eight.subarray(0, 6 * 8), Int32Array.from({ length: 6 }, (_, t) => t));
    expect(() => cache.append(0, eight, eight, Int32Array.from({ length: 8 }, (_, t) => 6 + t))).toThrow(expect.objectContaining({ code: 'POOL_EXHAUSTED' }));
    expect(cache.length(0, 0)).toBe(6);
    expect(pool.stats().residualBytes).toBe(2 * 4 * 8 * 4);
    pool.destroy();
    if (format === 'int4') expect(() => new GpuPagedCache(gpu, { ...shape, headDim: 7, kvFormat: 'int4' })).toThrow(/headDim must be even/);
    expect(() => new GpuPagedCache(gpu, { ...shape, headDim: 7, kvFormat: 'int8' }).destroy()).not.toThrow();
    expect(() => new GpuPagedCache(gpu, { ...shape, kvFormat: 'int2' as 'int8' })).toThrow(GpuError);
  });

  it('runs the decoder over it: prefill and chunked prefill store what the WASM pool stores, batched decode equals decode', async () => {
    const shape: LlamaShape = { dim: 32, hiddenDim: 48, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 8, vocabSize: 40, contextLength: 64, normEps: 1e-5 };
    const model = new GpuLlamaDecoder(gpu, shape, randomLlama(shape, 5));
    const pool = new GpuKvPool(gpu, { ...shape, blockSize: 4, kvFormat: format });
    const tokens = Array.from({ length: 19 }, (_, t) => (t * 7 + 3) % shape.vocabSize);
    const whole = GpuPagedCache.inPool(pool);
    const chunked = GpuPagedCache.inPool(pool);
    const prompt = await model.prefill(tokens, whole);
    const first = await model.prefill(tokens.slice(0, 10), chunked);
    const second = await model.prefill(tokens.slice(10), chunked, { start: 10 });
    for (let layer = 0; layer < shape.layers; layer++) {
      const twin = new TwinLayer(format, shape.kvHeads, shape.headDim, 4);
      const o = prompt.observations[layer]!;
      twin.append(o.keys, o.values, Int32Array.from(tokens, (_, t) => t));
      await expectSameRows(whole, layer, twin);
      // the chunks' K/V are the one prefill's within f32 rounding: rows that quantize alike
      const twinChunks = new TwinLayer(format, shape.kvHeads, shape.headDim, 4);
      twinChunks.append(first.observations[layer]!.keys, first.observations[layer]!.values, Int32Array.from({ length: 10 }, (_, t) => t));
      twinChunks.append(second.observations[layer]!.keys, second.observations[layer]!.values, Int32Array.from({ length: 9 }, (_, t) => 10 + t));
      await expectSameRows(chunked, layer, twinChunks);
    }
    // (the chunks' logits differ from the one prefill's by quantization: rows 8 and 9 of the first chunk
    // attended over their f32 residual rows, as the WASM pool's chunked prefill does)
    expect(second.logits.every(Number.isFinite)).toBe(true);
    // one batched step over both sequences equals each sequence's own step
    const alone = GpuPagedCache.inPool(pool);
    await model.prefill(tokens, alone);
    const batch = await model.decodeBatch([5, 6], [19, 19], [whole, chunked]);
    const single = await model.decode(5, 19, alone);
    expect(Array.from(batch[0]!)).toEqual(Array.from(single));
    for (const cache of [whole, chunked, alone]) cache.destroy();
    expect(pool.stats().residualBytes).toBe(0);
    pool.destroy();
  });
});
