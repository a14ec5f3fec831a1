import { describe, expect, it } from 'vitest';
import { Dispatcher, GpuError, PROGRAMS, alignTo, packUniforms } from '../src/index.js';
import type { UniformsOf } from '../src/index.js';
import { testGpu } from './helpers.js';

const { d } = await testGpu();

describe('alignTo', () => {
  it('rounds up to the alignment', () => {
    expect(alignTo(0, 16)).toBe(0);
    expect(alignTo(1, 16)).toBe(16);
    expect(alignTo(16, 16)).toBe(16);
    expect(alignTo(17, 4)).toBe(20);
  });
  it('rejects alignments that are not powers of two', () => {
    expect(() => alignTo(8, 3)).toThrow(RangeError);
  });
});

describe('typed uniforms', () => {
  it('fills padding fields with zeros and packs the rest in declaration order', () => {
    const packed = packUniforms([['a', 'u32'], ['_pad0', 'u32'], ['b', 'f32']], { a: 7, b: 0.5 });
    expect(packed.byteLength).toBe(16);
    const view = new DataView(packed);
    expect([view.getUint32(0, true), view.getUint32(4, true), view.getFloat32(8, true)]).toEqual([7, 0, 0.5]);
  });

  it('refuses missing, unknown, padding and non-finite fields at run time, naming the kernel and the field', () => {
    const fields = PROGRAMS.softmax.uniforms;
    const refuse = (values: object, pattern: RegExp) => {
      let error: unknown;
      try {
        packUniforms(fields, values as UniformsOf<'softmax'>, 'softmax');
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(GpuError);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(pattern) });
    };
    refuse({ rows: 1 }, /softmax: the uniform "length" is missing/);
    refuse({ rows: 1, length: 2, lenght: 3 }, /softmax: unknown uniform "lenght"/);
    refuse({ rows: 1, length: 2, _pad0: 0 }, /softmax: unknown uniform "_pad0".*padding is filled automatically/);
    refuse({ rows: 1, length: Number.NaN }, /softmax: the uniform "length" must be a finite number/);
    refuse({ rows: 1, length: Infinity }, /"length" must be a finite number/);
    refuse({ rows: -1, length: 2 }, /u32 uniform "rows" must be an integer/);
    refuse({ rows: 1.5, length: 2 }, /u32 uniform "rows" must be an integer/);
  });

  it('Dispatcher.run refuses a misspelt uniform before encoding anything', () => {
    const dispatcher = new Dispatcher(d.gpu);
    const buffer = dispatcher.temp(16, GPUBufferUsage.STORAGE);
    // @ts-expect-error -- `lenght` is not a field of the argmax uniforms (and `length` is missing)
    expect(() => dispatcher.run('argmax', { lenght: 4 }, [buffer, buffer], { x: 1 })).toThrow(/argmax: unknown uniform "lenght"/);
    // @ts-expect-error -- `rows` is missing
    expect(() => dispatcher.run('softmax', { length: 4 }, [buffer], { x: 1 })).toThrow(/softmax: the uniform "rows" is missing/);
    // @ts-expect-error -- padding is not passed
    expect(() => dispatcher.run('softmax', { rows: 1, length: 4, _pad0: 0 }, [buffer], { x: 1 })).toThrow(/unknown uniform "_pad0"/);
    dispatcher.submit();
    expect(dispatcher.liveTemporary).toBe(0);
  });
});
