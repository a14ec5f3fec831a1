import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type CacheGeometry,
  type HeadContext,
  type Method,
  type MethodName,
  type MethodOptions,
  OptionError,
  type OptionSpec,
  type Scorer,
  UnknownMethodError,
  adaptive,
  defineMethod,
  getMethod,
  isMethodName,
  listMethods,
  methodNames,
  option,
  planCompression,
  registeredOptions,
  resolveMethodOptions,
  windowOption,
} from '../../src/index.js';
import { randomObservations } from './random-observations.js';

/** Valid values of every registered option. A method that declares a new option adds it here. */
const validValues: { [K in keyof MethodOptions]: fc.Arbitrary<MethodOptions[K]> } = {
  window: fc.integer({ min: 1, max: 64 }),
  kernelSize: fc.integer({ min: 0, max: 7 }).map((k) => 2 * k + 1),
  pooling: fc.constantFrom('max', 'avg'),
  groupReduce: fc.constantFrom('mean', 'max'),
  alpha: fc.double({ min: 0, max: 1, noNaN: true }),
  beta: fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
  sinks: fc.integer({ min: 0, max: 16 }),
  blockSize: fc.integer({ min: 1, max: 64 }),
  maxEvictPerStep: fc.integer({ min: 0, max: 4096 }),
  epsilon: fc.double({ min: 0, max: 1, noNaN: true }),
  firstStageRatio: fc.double({ min: 0, max: 1, noNaN: true }),
  seed: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
};

/** Values to try as invalid: each option's check must refuse some of them. */
const candidates: readonly unknown[] = [0, -1, 2, 4, 1.5, -0.5, Number.NaN, Infinity, '8', 'mean', 'max', 'avg', 'min', null, true, {}, []];

const specsOf = (method: Method): [string, OptionSpec<unknown>][] => Object.entries(method.options);

describe('every registered method validates its options by its own declaration', () => {
  it('has a valid-value generator for every registered option, and each option a one-line doc', () => {
    expect(Object.keys(validValues).sort()).toEqual(Object.keys(registeredOptions).sort());
    for (const [name, spec] of Object.entries(registeredOptions)) {
      expect(spec.doc, name).toMatch(/^[^\n]{10,200}$/);
      expect(spec.isValid(spec.default), name).toBe(true);
    }
  });

  it.each(methodNames)('%s: its defaults are its declared ones, every override of its own is applied', (name) => {
    const method: Method = getMethod(name);
    expect(resolveMethodOptions(method)).toEqual(Object.fromEntries(specsOf(method).map(([key, spec]) => [key, spec.default])));
    expect(method.defaults).toEqual(resolveMethodOptions(method));
    const own = Object.fromEntries(specsOf(method).map(([key]) => [key, validValues[key as keyof MethodOptions]]));
    fc.assert(
      fc.property(fc.record(own, { requiredKeys: [] }), (overrides) => {
        expect(resolveMethodOptions(method, overrides)).toEqual({ ...method.defaults, ...overrides });
      }),
      { numRuns: 50 },
    );
  });

  it.each(methodNames)('%s: an invalid value of an option it declares is an OptionError naming the option', (name) => {
    const method: Method = getMethod(name);
    for (const [key, spec] of specsOf(method)) {
      const invalid = candidates.filter((value) => !spec.isValid(value));
      expect(invalid.length, key).toBeGreaterThan(3);
      for (const value of invalid) {
        expect(() => resolveMethodOptions(method, { [key]: value })).toThrow(OptionError);
        expect(() => resolveMethodOptions(method, { [key]: value })).toThrow(new RegExp(`^${key} must .*, got `));
      }
    }
  });

  it.each(methodNames)('%s: an unknown key is refused, listing the known options', (name) => {
    const method = getMethod(name);
    expect(() => resolveMethodOptions(method, { windw: 8 } as object)).toThrow(OptionError);
    expect(() => resolveMethodOptions(method, { windw: 8 } as object)).toThrow(
      /^Unknown option "windw"\. Options: window, .*kernelSize.*alpha.*\.$/,
    );
  });

  it.each(methodNames)('%s: an option only other methods read is ignored (one object serves several methods)', (name) => {
    const method: Method = getMethod(name);
    const others = Object.keys(registeredOptions).filter((key) => !Object.hasOwn(method.options, key)) as (keyof MethodOptions)[];
    if (others.length === 0) return;
    const theirs = Object.fromEntries(others.map((key) => [key, validValues[key]]));
    fc.assert(
      fc.property(fc.record(theirs), (overrides) => {
        expect(resolveMethodOptions(method, overrides)).toEqual(method.defaults);
      }),
      { numRuns: 30 },
    );
    // still checked by the declaration of the methods that read it
    expect(() => resolveMethodOptions(method, { [others[0]!]: Number.NaN })).toThrow(new RegExp(`^${others[0]} must`));
  });

  it('keeps the error messages callers saw before (one per option)', () => {
    const all = getMethod('ada-pyramidkv');
    expect(() => resolveMethodOptions(all, { window: 0 })).toThrow('window must be a whole number >= 1, got 0.');
    expect(() => resolveMethodOptions(all, { kernelSize: 4 })).toThrow('kernelSize must be an odd whole number >= 1 (1 = no pooling), got 4.');
    expect(() => resolveMethodOptions(all, { pooling: 'min' as 'max' })).toThrow('pooling must be "max" or "avg", got min.');
    expect(() => resolveMethodOptions(all, { groupReduce: 'sum' as 'max' })).toThrow('groupReduce must be "mean" or "max", got sum.');
    expect(() => resolveMethodOptions(all, { alpha: 1.5 })).toThrow('alpha must be in [0, 1] (1 = uniform split), got 1.5.');
    expect(() => resolveMethodOptions(all, { beta: 0 })).toThrow('beta must be a positive number, got 0.');
    expect(() => resolveMethodOptions(getMethod('streamingllm'), { sinks: -1 })).toThrow('sinks must be a whole number >= 0, got -1.');
    expect(resolveMethodOptions(all, { alpha: undefined, window: 16 })).toMatchObject({ alpha: 0.2, window: 16 });
  });
});

describe('method names', () => {
  it('are a union of the registered names, checked at compile time and at run time', () => {
    expectTypeOf<MethodName>().toEqualTypeOf<
      'full' | 'streamingllm' | 'h2o' | 'snapkv' | 'pyramidkv' | 'ada-snapkv' | 'ada-pyramidkv' | 'kvcompress' | 'criti-snapkv' | 'ada-criti-snapkv' | 'random'
    >();
    expectTypeOf(methodNames).toEqualTypeOf<readonly MethodName[]>();
    expect(listMethods().map((m) => m.name)).toEqual(methodNames);
    for (const name of methodNames) expect(isMethodName(name)).toBe(true);
    for (const name of ['snapkvv', '', 'Snapkv', 'ada-h2o', 'toString']) expect(isMethodName(name)).toBe(false);
    const input: string = 'ada-snapkv';
    if (isMethodName(input)) expectTypeOf(input).toEqualTypeOf<MethodName>();
    expect(() => getMethod('snapkvv')).toThrow(UnknownMethodError);
    expectTypeOf(getMethod('ada-snapkv').name).toEqualTypeOf<'ada-snapkv'>();
    expectTypeOf(getMethod(input)).toEqualTypeOf<Method>();
    const geometry: CacheGeometry = { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 4 };
    const observations = randomObservations(geometry, 12, 1);
    // @ts-expect-error a typo in a method name does not compile
    expect(() => planCompression({ method: 'snapkvv', geometry, observations, budget: 8 })).toThrow(UnknownMethodError);
  });

  it('type each registered method\'s options by its declaration', () => {
    expectTypeOf(resolveMethodOptions(getMethod('streamingllm'))).toEqualTypeOf<{ readonly window: number; readonly sinks: number }>();
    expectTypeOf(resolveMethodOptions(getMethod('ada-snapkv')).alpha).toEqualTypeOf<number>();
    expectTypeOf(resolveMethodOptions(getMethod('snapkv')).pooling).toEqualTypeOf<'max' | 'avg'>();
    expectTypeOf<MethodOptions>().toEqualTypeOf<{
      readonly window: number;
      readonly sinks: number;
      readonly groupReduce: 'mean' | 'max';
      readonly kernelSize: number;
      readonly pooling: 'max' | 'avg';
      readonly beta: number;
      readonly alpha: number;
      readonly blockSize: number;
      readonly maxEvictPerStep: number;
      readonly epsilon: number;
      readonly firstStageRatio: number;
      readonly seed: number;
    }>();
  });
});

// ---------------------------------------------------------------------------------------------
// A method defined in one place, as a new method's file would be: a new hyperparameter (`focus`)
// with its default, check and doc, a trivial scorer that reads it, and nothing registered anywhere.

const focusOption = option({
  default: 0,
  doc: 'the position whose neighbours are kept (test only)',
  requirement: 'must be a whole number >= 0',
  isValid: (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0,
});

/** Higher for entries nearer the `focus` position. */
const nearFocusScorer: Scorer<{ readonly focus: number }> = {
  name: 'near-focus',
  score: (head: HeadContext, { focus }) =>
    Float32Array.from({ length: head.positions.length - head.protectedCount }, (_, t) => -Math.abs(head.positions[t]! - focus)),
};

const nearFocus = defineMethod({
  name: 'near-focus',
  summary: 'Keeps the entries nearest a position (a test method).',
  paper: 'none, arXiv 0000.00000',
  scorer: nearFocusScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  options: { window: windowOption, focus: focusOption },
});

describe('defineMethod', () => {
  const geometry: CacheGeometry = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4 };
  const n = 30;
  const observations = randomObservations(geometry, n, 7);

  it('runs a method with a hyperparameter of its own through planCompression, end to end', () => {
    expectTypeOf(nearFocus.name).toEqualTypeOf<'near-focus'>();
    expectTypeOf(resolveMethodOptions(nearFocus)).toEqualTypeOf<{ readonly window: number; readonly focus: number }>();
    expect(nearFocus.defaults).toEqual({ window: 32, focus: 0 });
    const window = 4;
    const budget = 9; // 5 selectable per head
    const plan = planCompression({ method: nearFocus, geometry, observations, budget, options: { window, focus: 10 } });
    expect(plan.method).toBe('near-focus');
    for (const layer of plan.layers) {
      for (const kept of layer.kept) expect(Array.from(kept)).toEqual([8, 9, 10, 11, 12, 26, 27, 28, 29]);
    }
    // the default focus (0) keeps the first entries; one options object may carry other methods' options
    const atStart = planCompression({ method: nearFocus, geometry, observations, budget, options: { window, kernelSize: 3, sinks: 1 } });
    expect(Array.from(atStart.layers[0]!.kept[0]!)).toEqual([0, 1, 2, 3, 4, 26, 27, 28, 29]);
  });

  it('checks the new option with its own declaration, and refuses unknown ones', () => {
    const plan = (options: object) => () => planCompression({ method: nearFocus, geometry, observations, budget: 9, options: { window: 4, ...options } });
    expect(plan({ focus: -1 })).toThrow(OptionError);
    expect(plan({ focus: 2.5 })).toThrow('focus must be a whole number >= 0, got 2.5.');
    expect(plan({ focsu: 3 })).toThrow(/^Unknown option "focsu"\. Options: .*focus/);
    // a registered method does not know `focus`: for it, the key is a typo
    expect(() => resolveMethodOptions(getMethod('snapkv'), { focus: 3 } as object)).toThrow(/Unknown option "focus"/);
  });

  it('composes with the Ada-KV wrapper, which adds alpha', () => {
    const ada = adaptive(nearFocus);
    expectTypeOf(ada.name).toEqualTypeOf<'ada-near-focus'>();
    expect(Object.keys(ada.options)).toEqual(['window', 'focus', 'alpha']);
    expect(ada.defaults).toEqual({ window: 32, focus: 0, alpha: 0.2 });
    const plan = planCompression({ method: ada, geometry, observations, budget: 9, options: { window: 4, focus: 10, alpha: 1 } });
    // alpha = 1 is the uniform split: the same entries as the plain method
    expect(plan.layers).toEqual(planCompression({ method: nearFocus, geometry, observations, budget: 9, options: { window: 4, focus: 10 } }).layers);
    expect(() => planCompression({ method: ada, geometry, observations, budget: 9, options: { window: 4, alpha: 2 } })).toThrow(OptionError);
  });

  it('refuses a declaration that misses an option its schedule or allocation reads, or whose default fails its check', () => {
    const base = { name: 'broken', summary: 'x', paper: 'x', scorer: nearFocusScorer, allocation: 'uniform', schedule: 'uniform' } as const;
    expect(() => defineMethod({ ...base, schedule: 'pyramid', options: { window: windowOption, focus: focusOption } })).toThrow(
      'Method "broken" (schedule pyramid, allocation uniform) must declare the "beta" option it reads.',
    );
    expect(() => defineMethod({ ...base, allocation: 'adaptive', options: { window: windowOption, focus: focusOption } })).toThrow(/"alpha"/);
    expect(() => defineMethod({ ...base, options: { window: windowOption, focus: { ...focusOption, default: -3 } } })).toThrow(
      'focus must be a whole number >= 0, got -3.',
    );
    // a hand-made method object without a declaration is refused when it is used
    const undeclared = { ...getMethod('snapkv'), options: undefined } as unknown as Method;
    expect(() => resolveMethodOptions(undeclared)).toThrow(/declares no options/);
    const adaptiveByHand: Method = { ...getMethod('snapkv'), name: 'by-hand', allocation: 'adaptive' };
    expect(() => resolveMethodOptions(adaptiveByHand)).toThrow('Method "by-hand" (schedule uniform, allocation adaptive) must declare the "alpha" option it reads.');
  });

  it('does not compile when the scorer reads an option the method does not declare', () => {
    const declareWithoutFocus = () =>
      // @ts-expect-error the scorer reads `focus`, which this method does not declare
      defineMethod({ name: 'no-focus', summary: 'x', paper: 'x', scorer: nearFocusScorer, schedule: 'uniform', allocation: 'uniform', options: { window: windowOption } });
    expect(declareWithoutFocus).toBeTypeOf('function');
    const declareWithoutWindow = () =>
      // @ts-expect-error every method declares `window`
      defineMethod({ name: 'no-window', summary: 'x', paper: 'x', scorer: null, schedule: 'uniform', allocation: 'uniform', options: {} });
    expect(declareWithoutWindow).toThrow(/must declare the "window" option/);
  });
});
