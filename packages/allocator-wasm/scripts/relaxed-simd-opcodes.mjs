// Rewrites the one pre-standard relaxed-SIMD instruction clang 14 emits for us, `f32x4.fma`
// (0xfd 0xaf 0x01), into the standardized `f32x4.relaxed_madd` (0xfd 0x85 0x02) that Node (with
// --experimental-wasm-relaxed-simd) and Chromium accept. Both opcodes are two-byte LEB128s, so the
// rewrite keeps every length and offset. Every instruction of every function body is decoded (so no
// immediate byte is mistaken for an opcode); any other relaxed-SIMD opcode, or an opcode this decoder
// does not know, fails the build rather than shipping a module engines would reject or misread.
// Operand order: relaxed_madd(a, b, c) = a * b + c; src/cpp/engine/simd.h passes (a, b, c) in that
// order under -mrelaxed-simd.

const OLD_FMA = 0xaf;
const NEW_MADD = 0x105;
// The prototype relaxed-SIMD opcodes of LLVM 14, which sat in the holes of the SIMD opcode space
// (relaxed_swizzle 0xa2, relaxed_trunc 0xa5 0xa6 0xc5 0xc6, fma/fms 0xaf 0xb0 0xcf 0xd0, laneselect
// 0xb2 0xb3 0xd2 0xd3, relaxed_min/max 0xb4 0xe2 0xd4 0xee): all but f32x4.fma are refused.
const OLD_RELAXED = new Set([0xa2, 0xa5, 0xa6, 0xc5, 0xc6, 0xaf, 0xb0, 0xcf, 0xd0, 0xb2, 0xb3, 0xd2, 0xd3, 0xb4, 0xe2, 0xd4, 0xee]);

class Reader {
  constructor(bytes, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
  }
  byte() {
    if (this.offset >= this.bytes.length) throw new Error('unexpected end of module');
    return this.bytes[this.offset++];
  }
  u32() {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }
  // Signed LEBs only need skipping.
  skipLeb() {
    while (this.byte() & 0x80) {
      // continue
    }
  }
  skip(n) {
    this.offset += n;
  }
  memarg() {
    this.u32();
    this.u32();
  }
}

const simdMemarg = new Set([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x5c, 0x5d]);
const simdLane = (op) => (op >= 0x15 && op <= 0x22);
const simdMemargLane = (op) => op >= 0x54 && op <= 0x5b;

/** Decodes one function body [start, end), rewriting f32x4.fma in place; returns how many it rewrote. */
function rewriteBody(bytes, start, end) {
  const r = new Reader(bytes, start);
  const groups = r.u32();
  for (let i = 0; i < groups; i++) {
    r.u32();
    r.byte();
  }
  let rewritten = 0;
  while (r.offset < end) {
    const op = r.byte();
    if (op === 0x02 || op === 0x03 || op === 0x04) {
      const t = bytes[r.offset];
      if (t === 0x40 || (t >= 0x6f && t <= 0x7f) || t === 0x7b) r.byte();
      else r.skipLeb();
    } else if (op === 0x0c || op === 0x0d || op === 0x10 || (op >= 0x20 && op <= 0x26) || op === 0xd2) {
      r.u32();
    } else if (op === 0x0e) {
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
    } else if (op === 0x11) {
      r.u32();
      r.u32();
    } else if (op === 0x1c) {
      const n = r.u32();
      r.skip(n);
    } else if (op >= 0x28 && op <= 0x3e) {
      r.memarg();
    } else if (op === 0x3f || op === 0x40 || op === 0xd0) {
      r.byte();
    } else if (op === 0x41 || op === 0x42) {
      r.skipLeb();
    } else if (op === 0x43) {
      r.skip(4);
    } else if (op === 0x44) {
      r.skip(8);
    } else if (op === 0xfc) {
      const sub = r.u32();
      if (sub === 8) {
        r.u32();
        r.byte();
      } else if (sub === 10) {
        r.byte();
        r.byte();
      } else if (sub === 11) r.byte();
      else if (sub === 9 || sub === 13 || (sub >= 15 && sub <= 17)) r.u32();
      else if (sub === 12 || sub === 14) {
        r.u32();
        r.u32();
      } else if (sub > 7) throw new Error(`unknown 0xfc ${sub}`);
    } else if (op === 0xfd) {
      const at = r.offset;
      const sub = r.u32();
      if (sub === OLD_FMA) {
        if (r.offset - at !== 2) throw new Error('f32x4.fma with a non-canonical opcode length');
        bytes[at] = (NEW_MADD & 0x7f) | 0x80;
        bytes[at + 1] = NEW_MADD >> 7;
        rewritten++;
      } else if (OLD_RELAXED.has(sub)) {
        throw new Error(`relaxed-SIMD opcode 0xfd ${sub.toString(16)} has no rewrite; only f32x4.fma is supported`);
      } else if (simdMemarg.has(sub)) r.memarg();
      else if (sub === 0x0c || sub === 0x0d) r.skip(16);
      else if (simdLane(sub)) r.byte();
      else if (simdMemargLane(sub)) {
        r.memarg();
        r.byte();
      } else if (sub > 0xff) throw new Error(`unknown SIMD opcode 0xfd ${sub.toString(16)}`);
    } else if (op === 0xfe) {
      const sub = r.u32();
      if (sub === 0x03) r.byte();
      else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) r.memarg();
      else throw new Error(`unknown atomic opcode 0xfe ${sub.toString(16)}`);
    } else if (op === 0x05 || op === 0x0b || op === 0x00 || op === 0x01 || op === 0x0f || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1) {
      // no immediates
    } else {
      throw new Error(`unknown opcode 0x${op.toString(16)} at byte ${r.offset - 1}`);
    }
  }
  if (r.offset !== end) throw new Error('a function body did not end where its size says');
  return rewritten;
}

/** Returns a copy of `module` with every f32x4.fma rewritten; throws on anything it cannot handle. */
export function standardizeRelaxedSimd(module) {
  const bytes = Uint8Array.from(module);
  const r = new Reader(bytes, 8);
  let rewritten = 0;
  while (r.offset < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.offset + size;
    if (id === 10) {
      const count = r.u32();
      for (let f = 0; f < count; f++) {
        const bodySize = r.u32();
        const bodyEnd = r.offset + bodySize;
        rewritten += rewriteBody(bytes, r.offset, bodyEnd);
        r.offset = bodyEnd;
      }
    }
    r.offset = end;
  }
  return { bytes, rewritten };
}
