import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/main.js';
import { captureIo } from './capture.js';

const lines = (...messages: string[]) => Readable.from(messages.map((m) => `${m}\n`));

describe('adakv chat', () => {
  it('answers each line of a conversation in one cache, kept within its limit, with /stats and /reset', async () => {
    const io = captureIo({ stdin: lines('Tom has a red ball.', 'What did Tom do next?', '/stats', '/reset', 'Lily saw a cat.') });
    const code = await runCli(['chat', '--temperature', '0', '--steps', '24', '--max-cache-tokens', '48', '--window', '8', '--evict-every', '8'], io);
    expect(code, io.err()).toBe(0);
    const answers = io.out().split('\n').filter((line) => line.length > 0);
    expect(answers.length).toBeGreaterThanOrEqual(3); // three answers (an answer may span lines)
    const stats = io.err().split('\n').filter((line) => line.startsWith('['));
    expect(stats).toHaveLength(4); // after each answer, and /stats
    const seen = stats.map((line) => Number(/^\[(\d+) tokens seen/.exec(line)![1]));
    expect(seen[1]).toBeGreaterThan(seen[0]!); // the second turn continues the first
    expect(seen[2]).toBe(seen[1]);
    expect(seen[3]).toBeLessThan(seen[1]!); // /reset started over
    const perHead = stats.map((line) => Number(/cache (\d+) entries per head/.exec(line)![1]));
    perHead.forEach((entries) => expect(entries).toBeLessThanOrEqual(48));
    expect(io.err()).toMatch(/a new conversation/);
  }, 120_000);

  it('gives the same first answer as a fresh conversation, and stops at the context', async () => {
    const first = captureIo({ stdin: lines('Tom has a red ball.') });
    expect(await runCli(['chat', '--temperature', '0', '--steps', '12', '--method', 'full'], first)).toBe(0);
    const again = captureIo({ stdin: lines('/reset', 'Tom has a red ball.') });
    expect(await runCli(['chat', '--temperature', '0', '--steps', '12', '--method', 'full'], again)).toBe(0);
    expect(again.out()).toBe(first.out());
    const full = captureIo({ stdin: lines(...Array.from({ length: 12 }, () => 'Tell me more about the red ball and the cat.')) });
    expect(await runCli(['chat', '--temperature', '0', '--steps', '40', '--method', 'full'], full)).toBe(0);
    expect(full.err()).toMatch(/reached the model's context of 256 tokens; \/reset starts a new one/);
  }, 120_000);
});
