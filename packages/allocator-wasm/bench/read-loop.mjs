// The physical limit for decode attention: a plain WASM SIMD loop that reads every byte of a memory
// range once (four 16-byte loads per iteration, summed so they are not optimised away). Hand-assembled
// so the bench needs no toolchain; it imports the allocator's own memory, so it reads the same pages.

const leb = (value) => {
  const bytes = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    bytes.push(byte);
  } while (value);
  return bytes;
};
const section = (id, body) => [id, ...leb(body.length), ...body];
const name = (text) => [text.length, ...new TextEncoder().encode(text)];
const [GET, SET] = [0x20, 0x21];
const SIMD = 0xfd;
const load = (offset) => [GET, 0, SIMD, 0x00, 4, ...leb(offset)];
const f32x4Add = [SIMD, 0xe4, 0x01];

// (func (param ptr i32) (param bytes i32) (result f32)) with locals end:i32 and four v128 accumulators.
const body = [
  2, 1, 0x7f, 4, 0x7b,
  GET, 0, GET, 1, 0x6a, SET, 2,
  0x02, 0x40, 0x03, 0x40,
  GET, 0, GET, 2, 0x4f, 0x0d, 1,
  ...[0, 16, 32, 48].flatMap((offset, i) => [GET, 3 + i, ...load(offset), ...f32x4Add, SET, 3 + i]),
  GET, 0, 0x41, 0xc0, 0x00, 0x6a, SET, 0, // i32.const 64 (signed LEB128)
  0x0c, 0, 0x0b, 0x0b,
  GET, 3, GET, 4, ...f32x4Add, GET, 5, ...f32x4Add, GET, 6, ...f32x4Add,
  SIMD, 0x1f, 0,
  0x0b,
];

// The memory import: plain (min 1), or shared (min 1, max 4 GiB) for the engine's threads variant.
const module = (shared) =>
  new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7d]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...(shared ? [0x03, 1, ...leb(65536)] : [0x00, 1])]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('read'), 0x00, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);

/** A `read(pointer, bytes)` over the given memory (bytes a multiple of 64). */
export function readLoop(memory) {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(module(shared)), { env: { memory } });
  return instance.exports.read;
}
