import { MAX_SEED } from '@adakv/core';
import { describe, expect, it } from 'vitest';
import { logitsProcessor } from '../src/server/engine-host.js';
import { choiceSeed } from '../src/server/engine-protocol.js';
import { StopMatcher } from '../src/server/stop-matcher.js';
import { parsePrometheusText, sampleValue } from './prometheus-text.js';

// The server's small pieces on their own: stop strings over streamed pieces, the seeds of n choices,
// penalties and biases on logits, and the exposition-format parser the metrics test relies on.

/** Pushes `pieces` through a matcher; returns what came out, piece by piece, and whether it stopped. */
function run(stops: string[], pieces: string[]): { out: string[]; stopped: boolean; rest: string } {
  const matcher = new StopMatcher(stops);
  const out: string[] = [];
  let stopped = false;
  for (const piece of pieces) {
    const result = matcher.push(piece);
    out.push(result.text);
    stopped ||= result.stopped;
  }
  return { out, stopped, rest: matcher.flush() };
}

describe('StopMatcher', () => {
  it('passes text through without stop strings', () => {
    expect(run([], ['a', 'b'])).toEqual({ out: ['a', 'b'], stopped: false, rest: '' });
    expect(run([''], ['a'])).toEqual({ out: ['a'], stopped: false, rest: '' }); // an empty stop string is none
  });

  it('holds back a tail that may begin a stop string, and never shows any of it once it completes', () => {
    expect(run(['END'], ['The E', 'N', 'D of it'])).toEqual({ out: ['The ', '', ''], stopped: true, rest: '' });
    expect(run(['END'], ['The E', 'N', 'vy'])).toEqual({ out: ['The ', '', 'ENvy'], stopped: false, rest: '' });
    expect(run(['END'], ['The E'])).toEqual({ out: ['The '], stopped: false, rest: 'E' }); // the end: held text is flushed
  });

  it('stops at the earliest of several stop strings, inside one piece or across pieces', () => {
    expect(run(['c', 'ab'], ['xabc'])).toEqual({ out: ['x'], stopped: true, rest: '' });
    expect(run(['bcd', 'cx'], ['ab', 'cx'])).toEqual({ out: ['a', 'b'], stopped: true, rest: '' });
    expect(run(['.'], ['Lily', '. She'])).toEqual({ out: ['Lily', ''], stopped: true, rest: '' });
    // after a stop, nothing more comes out
    const matcher = new StopMatcher(['x']);
    expect(matcher.push('axb')).toEqual({ text: 'a', stopped: true });
    expect(matcher.push('more')).toEqual({ text: '', stopped: true });
  });
});

describe('choiceSeed', () => {
  it('keeps the seed for the first choice and derives distinct valid seeds for the others', () => {
    expect(choiceSeed(11, 0)).toBe(11);
    const seeds = new Set<number>();
    for (const seed of [0, 1, 2, 42, MAX_SEED]) {
      for (let i = 0; i < 128; i++) {
        const derived = choiceSeed(seed, i);
        expect(Number.isSafeInteger(derived) && derived >= 0 && derived <= MAX_SEED).toBe(true);
        seeds.add(derived);
      }
    }
    expect(seeds.size).toBe(5 * 128); // no two choices of these requests share a seed
  });
});

describe('logitsProcessor', () => {
  it('is absent when nothing is asked, and applies OpenAI penalties and biases otherwise', () => {
    expect(logitsProcessor({ maxTokens: 1 })).toBeUndefined();
    expect(logitsProcessor({ maxTokens: 1, frequencyPenalty: 0, presencePenalty: 0, logitBias: [] })).toBeUndefined();
    const processor = logitsProcessor({ maxTokens: 1, frequencyPenalty: 0.5, presencePenalty: 1, logitBias: [[3, -100], [0, 2]] })!;
    const logits = Float32Array.from([1, 1, 1, 1, 1]);
    processor(logits, [1, 1, 2, 1]);
    // token 1: three times (-1.5 - 1), token 2: once (-0.5 - 1), token 3 banned, token 0 raised
    expect([...logits]).toEqual([3, 1 - 2.5, 1 - 1.5, -99, 1]);
  });
});

describe('parsePrometheusText', () => {
  const valid =
    '# HELP a_total Things.\n# TYPE a_total counter\na_total{kind="x"} 3\na_total{kind="y\\"z"} 0\n' +
    '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1.25\nh_count 2\n# a comment\ng 1.5e3 1700000000000\n';

  it('reads samples, labels with escapes, types, help, histograms and timestamps', () => {
    const families = parsePrometheusText(valid);
    expect(families.get('a_total')).toMatchObject({ type: 'counter', help: 'Things.' });
    expect(sampleValue(families, 'a_total', { kind: 'y"z' })).toBe(0);
    expect(sampleValue(families, 'h_count')).toBe(2);
    expect(families.get('g')?.samples[0]).toEqual({ name: 'g', labels: {}, value: 1500, timestamp: 1700000000000 });
  });

  it('refuses what a scrape would refuse or misread', () => {
    for (const [text, problem] of [
      ['a 1', /newline/],
      ['a{b="1"} x\n', /not a number/],
      ['1a 1\n', /metric name/],
      ['a{1b="x"} 1\n', /label name/],
      ['a{b=x} 1\n', /quoted/],
      ['a{b="x\\q"} 1\n', /escape/],
      ['a 1\n# TYPE a counter\n', /after its samples/],
      ['# TYPE a counter\n# TYPE a gauge\n', /second TYPE/],
      ['a 1\nb 1\na{x="1"} 2\n', /one group/],
      ['a 1\na 2\n', /twice/],
      ['# TYPE c counter\nc -1\n', /counter/],
      ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /cumulative/],
      ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
    ] as const) {
      expect(() => parsePrometheusText(text), text).toThrow(problem);
    }
  });
});
