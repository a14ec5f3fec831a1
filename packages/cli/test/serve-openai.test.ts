import { Generator, type Model, encodeChat } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/start.js';
import { expectPoolEmpty, startTestServer } from './serve-harness.js';

// `adakv serve` driven by the official openai client (5.12) over loopback: completions and chat, JSON
// and streamed, models, stop, n, prompt arrays, usage in streams, log-probabilities, logit bias and
// penalties, adakv's own fields as extra body parameters, and errors that name what the client set.

let model: Model;
let server: RunningServer;
let client: OpenAI;

const greedy = (prompt: string | readonly number[], steps: number) => new Generator(model).generate(prompt, { steps });

/** adakv's fields, sent as the openai client sends any field it does not know: in the body as given. */
const adakv = (fields: Record<string, unknown>): object => fields;

beforeAll(async () => {
  model = await loadDefaultModel();
  server = await startTestServer({ maxPending: 32 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
});

describe('adakv serve with the openai client: completions', () => {
  it('answers a completion with the generator greedy tokens, as JSON and as a stream', async () => {
    const expected = await greedy('Once upon a time', 16);
    const answer = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 16 });
    expect(answer).toMatchObject({
      object: 'text_completion',
      model: 'stories15M',
      choices: [{ index: 0, text: expected.text, finish_reason: 'length', logprobs: null }],
      usage: { prompt_tokens: expected.promptTokens.length, completion_tokens: 16, total_tokens: expected.promptTokens.length + 16 },
    });
    const stream = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 16, stream: true });
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'text_completion' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks.map((c) => c.choices[0]!.text).join('')).toBe(expected.text);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
  });

  it('stops at a stop string, which the answer leaves out, streamed or not', async () => {
    const expected = await greedy('Once upon a time', 24); // ", there was a little girl named Lily. She loved ..."
    const cut = expected.text.indexOf(' Lily');
    expect(cut).toBeGreaterThan(0);
    const body = { model: 'stories15M', prompt: 'Once upon a time', max_tokens: 24, stop: ['nothing like this', ' Lily'] };
    const answer = await client.completions.create(body);
    expect(answer.choices[0]).toMatchObject({ text: expected.text.slice(0, cut), finish_reason: 'stop' });
    expect(answer.usage!.completion_tokens).toBeLessThan(24);
    const stream = await client.completions.create({ ...body, stream: true });
    const texts: string[] = [];
    let reason: string | null = null;
    for await (const chunk of stream) {
      texts.push(chunk.choices[0]!.text);
      reason = chunk.choices[0]!.finish_reason ?? reason;
    }
    expect(texts.join('')).toBe(expected.text.slice(0, cut));
    expect(reason).toBe('stop');
    // a single string works too, and a stop string that never comes changes nothing
    const one = await client.completions.create({ ...body, stop: 'named' });
    expect(one.choices[0]!.text).toBe(expected.text.slice(0, expected.text.indexOf('named')));
    const none = await client.completions.create({ ...body, stop: ['zzz'] });
    expect(none.choices[0]).toMatchObject({ text: expected.text, finish_reason: 'length' });
    await expectPoolEmpty(server);
  });

  it('samples n choices with distinct seeds derived from the request seed; the first is the n: 1 answer', async () => {
    const body = { model: 'stories15M', prompt: 'Once upon a time', max_tokens: 12, temperature: 1, seed: 11 };
    const alone = await client.completions.create(body);
    const three = await client.completions.create({ ...body, n: 3 });
    expect(three.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(three.choices[0]!.text).toBe(alone.choices[0]!.text);
    expect(new Set(three.choices.map((c) => c.text)).size).toBeGreaterThan(1);
    expect(three.usage).toMatchObject({ completion_tokens: 36, prompt_tokens: alone.usage!.prompt_tokens });
    // streamed: chunks carry their choice's index and add up to the same texts
    const stream = await client.completions.create({ ...body, n: 3, stream: true });
    const texts = ['', '', ''];
    const finished = new Set<number>();
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.text;
        if (choice.finish_reason) finished.add(choice.index);
      }
    }
    expect(texts).toEqual(three.choices.map((c) => c.text));
    expect(finished.size).toBe(3);
  });

  it('answers a prompt array with one choice per prompt (and per n), in order', async () => {
    const prompts = ['Once upon a time', 'Tom had a red ball.'];
    const expected = await Promise.all(prompts.map((p) => greedy(p, 8)));
    const answer = await client.completions.create({ model: 'stories15M', prompt: prompts, max_tokens: 8 });
    expect(answer.choices.map((c) => c.text)).toEqual(expected.map((e) => e.text));
    expect(answer.usage!.prompt_tokens).toBe(expected[0]!.promptTokens.length + expected[1]!.promptTokens.length);
    const twice = await client.completions.create({ model: 'stories15M', prompt: prompts, max_tokens: 8, n: 2 });
    expect(twice.choices.map((c) => [c.index, c.text])).toEqual([
      [0, expected[0]!.text],
      [1, expected[0]!.text],
      [2, expected[1]!.text],
      [3, expected[1]!.text],
    ]);
    // token ids work as prompts, alone or in an array
    const ids = await client.completions.create({ model: 'stories15M', prompt: [expected[1]!.promptTokens, expected[0]!.promptTokens], max_tokens: 8 });
    expect(ids.choices.map((c) => c.text)).toEqual([expected[1]!.text, expected[0]!.text]);
  });

  it('puts the usage in a last chunk with stream_options.include_usage', async () => {
    const stream = await client.completions.create({
      model: 'stories15M',
      prompt: 'Once upon a time',
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 5, completion_tokens: 8, total_tokens: 13 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null && c.choices.length === 1)).toBe(true);
  });

  it('reports log-probabilities: the chosen token and the top N, streamed or not', async () => {
    const answer = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 8, logprobs: 3 });
    const { logprobs, text } = answer.choices[0]!;
    expect(logprobs!.tokens!.join('')).toBe(text);
    expect(logprobs!.tokens).toHaveLength(8);
    expect(logprobs!.text_offset).toEqual(logprobs!.tokens!.map((_, i) => logprobs!.tokens!.slice(0, i).join('').length));
    for (const [i, top] of logprobs!.top_logprobs!.entries()) {
      const values = Object.values(top);
      expect(values.length).toBeGreaterThanOrEqual(2); // 3, unless two alternatives print alike
      expect(logprobs!.token_logprobs![i]).toBeLessThanOrEqual(0);
      expect(logprobs!.token_logprobs![i]).toBeCloseTo(Math.max(...values), 5); // greedy: the most likely one
    }
    const stream = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 8, logprobs: 3, stream: true });
    const tokens: string[] = [];
    for await (const chunk of stream) tokens.push(...(chunk.choices[0]!.logprobs?.tokens ?? []));
    expect(tokens).toEqual(logprobs!.tokens);
    // a stop string's tokens are not reported
    const stopped = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 16, logprobs: 1, stop: ' Lily' });
    expect(stopped.choices[0]!.logprobs!.tokens!.join('')).toBe(stopped.choices[0]!.text);
  });

  it('applies logit_bias and frequency / presence penalties to the logits before sampling', async () => {
    const plain = await greedy('Once upon a time', 64);
    const first = plain.tokens[0]!;
    const banned = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 4, logit_bias: { [first]: -100 } });
    expect(banned.choices[0]!.text.startsWith(plain.text.slice(0, 4))).toBe(false);
    const forced = model.tokenizer!.encode('!', { bos: false }).at(-1)!;
    const bang = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 3, logit_bias: { [forced]: 100 } });
    expect(bang.choices[0]!.text).toBe(model.tokenizer!.decode([forced, forced, forced]));
    /** Words used more than once (greedy stories15M repeats itself: 13 of 51 words here). */
    const repeats = (text: string) => text.split(/\s+/).length - new Set(text.split(/\s+/)).size;
    const penalized = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 64, frequency_penalty: 2, presence_penalty: 1 });
    expect(penalized.choices[0]!.text).not.toBe(plain.text);
    expect(repeats(penalized.choices[0]!.text)).toBeLessThan(repeats(plain.text));
    // zero penalties and an empty bias ask for nothing: the greedy answer
    const neutral = await client.completions.create({ model: 'stories15M', prompt: 'Once upon a time', max_tokens: 64, frequency_penalty: 0, presence_penalty: 0, logit_bias: {} });
    expect(neutral.choices[0]!.text).toBe(plain.text);
  });
});

describe('adakv serve with the openai client: chat', () => {
  const messages = [
    { role: 'system' as const, content: 'You tell short stories.' },
    { role: 'user' as const, content: 'Tell me about a cat.' },
  ];

  it('answers a chat in the model chat template, as chat.completion and as chunks (role first)', async () => {
    const prompt = encodeChat(model, messages, { addGenerationPrompt: true });
    const expected = await greedy(prompt, 16);
    const answer = await client.chat.completions.create({ model: 'stories15M', messages, max_tokens: 16 });
    expect(answer).toMatchObject({
      object: 'chat.completion',
      model: 'stories15M',
      choices: [{ index: 0, message: { role: 'assistant', content: expected.text }, finish_reason: 'length', logprobs: null }],
      usage: { prompt_tokens: prompt.length, completion_tokens: 16 },
    });
    expect(answer.id).toMatch(/^chatcmpl-/);
    const stream = await client.chat.completions.create({ model: 'stories15M', messages, max_completion_tokens: 16, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1).every((c) => c.choices[0]!.delta.role === undefined)).toBe(true);
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe(expected.text);
    expect(chunks.at(-1)!.choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
  });

  it('works with the client stream helper, n, stop, include_usage and logprobs', async () => {
    const runner = client.chat.completions.stream({ model: 'stories15M', messages, max_tokens: 12, n: 2, temperature: 0.9, seed: 3, stream_options: { include_usage: true } });
    const final = await runner.finalChatCompletion();
    expect(final.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(final.usage).toMatchObject({ completion_tokens: 24 });
    const json = await client.chat.completions.create({ model: 'stories15M', messages, max_tokens: 12, n: 2, temperature: 0.9, seed: 3 });
    expect(final.choices.map((c) => c.message.content)).toEqual(json.choices.map((c) => c.message.content));
    const full = json.choices[0]!.message.content!;
    const stop = full.slice(4, 8);
    const stopped = await client.chat.completions.create({ model: 'stories15M', messages, max_tokens: 12, temperature: 0.9, seed: 3, stop });
    expect(stopped.choices[0]).toMatchObject({ message: { content: full.slice(0, full.indexOf(stop)) }, finish_reason: 'stop' });
    const withLogprobs = await client.chat.completions.create({ model: 'stories15M', messages, max_tokens: 6, logprobs: true, top_logprobs: 2 });
    const content = withLogprobs.choices[0]!.logprobs!.content!;
    expect(content.map((c) => c.token).join('')).toBe(withLogprobs.choices[0]!.message.content);
    for (const entry of content) {
      expect(Buffer.from(entry.bytes!).toString('utf8')).toBe(entry.token);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.logprob).toBeCloseTo(entry.top_logprobs[0]!.logprob, 5);
    }
  });
});

describe('adakv serve with the openai client: models, adakv fields and errors', () => {
  it('lists and retrieves the served model', async () => {
    const page = await client.models.list();
    expect(page.data).toEqual([{ id: 'stories15M', object: 'model', created: expect.any(Number), owned_by: 'adakv' }]);
    expect(await client.models.retrieve('stories15M')).toMatchObject({ id: 'stories15M', object: 'model' });
    await expect(client.models.retrieve('gpt-4o')).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
  });

  it('takes adakv cache fields as extra body parameters, and reports what compression evicted', async () => {
    const prompt = 'Lily went to the park with her mom. She saw a big tree and a little bird. The bird was sad because it could not fly.';
    const answer = await client.completions.create({ model: 'stories15M', prompt, max_tokens: 8, ...adakv({ method: 'ada-snapkv', compression_ratio: 2, protected_window: 8 }) });
    expect((answer as unknown as { adakv: { evicted_tokens: number } }).adakv.evicted_tokens).toBeGreaterThan(0);
    const chat = await client.chat.completions.create({ model: 'stories15M', messages: [{ role: 'user', content: prompt }], max_tokens: 4, ...adakv({ max_cache_tokens: 40, protected_window: 8 }) });
    expect((chat as unknown as { adakv: { evicted_tokens: number } }).adakv.evicted_tokens).toBeGreaterThan(0);
  });

  it('accepts null and default values of every field the client may send, and the fields it ignores', async () => {
    const nulls = {
      model: 'stories15M', max_tokens: null, temperature: null, top_p: null, seed: null, n: null, stream: null, stream_options: null, stop: null,
      frequency_penalty: null, presence_penalty: null, logit_bias: null, user: 'someone',
    };
    const completion = await client.completions.create({ ...nulls, prompt: 'Once upon a time', logprobs: null, echo: false, best_of: 1, suffix: null });
    expect(completion.choices[0]!.text.length).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBe(64); // max_tokens: null is the default
    const chat = await client.chat.completions.create({
      ...nulls, max_tokens: 4, messages: [{ role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] }, { role: 'user', content: 'Hi' }],
      max_completion_tokens: null, logprobs: false, top_logprobs: null, tools: [], tool_choice: 'none', parallel_tool_calls: true, response_format: { type: 'text' },
      store: false, metadata: { a: 'b' }, service_tier: 'auto', modalities: ['text'], audio: null, prediction: null, reasoning_effort: 'low',
    });
    expect(chat.choices[0]!.message.role).toBe('assistant');
  });

  it('refuses what it cannot do with a 400 that names the field as the client spells it', async () => {
    // requests start one at a time: a rejection nobody awaits yet would be reported as unhandled
    const cases: [() => Promise<unknown>, string, string, RegExp][] = [
      [() => client.completions.create({ model: 'm', prompt: 'x', echo: true }), 'echo', 'UNSUPPORTED_PARAMETER', /echo/],
      [() => client.completions.create({ model: 'm', prompt: 'x', best_of: 3 }), 'best_of', 'UNSUPPORTED_PARAMETER', /best_of/],
      [() => client.completions.create({ model: 'm', prompt: 'x', logit_bias: { '99999999': 1 } }), 'logit_bias', 'INVALID_OPTION', /token ids from 0 to 31999/],
      [() => client.completions.create({ model: 'm', prompt: 'x', max_tokens: 5000 }), 'prompt', 'CONTEXT_OVERFLOW', /context/],
      // the first prompt fits, the second does not: the whole request is refused, nothing of it runs
      [() => client.completions.create({ model: 'm', prompt: ['Once upon a time', 'Tom had a red ball. He liked to play with it in the park.'], max_tokens: 250 }), 'prompt', 'CONTEXT_OVERFLOW', /context/],
      [() => client.completions.create({ model: 'm', prompt: 'x', ...adakv({ max_cache_tokens: 20 }) }), 'max_cache_tokens', 'INVALID_OPTION', /protected_window/],
      [() => client.completions.create({ model: 'm', prompt: 'x', ...adakv({ max_cache_tokens: 48, compression_ratio: 2 }) }), 'compression_ratio', 'INVALID_OPTION', /not max_cache_tokens and compression_ratio/],
      [() => client.completions.create({ model: 'm', prompt: 'x', ...adakv({ max_kv_bytes: 1000 }) }), 'max_kv_bytes', 'INVALID_OPTION', /max_kv_bytes \(1000\) holds 0 entries per KV head/],
      [() => client.completions.create({ model: 'm', prompt: 'x', ...adakv({ method: 'nope' }) }), 'method', 'UNKNOWN_METHOD', /Unknown method "nope"/],
      [() => client.completions.create({ model: 'm', prompt: 'x', ...adakv({ frobnicate: 1 }) }), 'frobnicate', 'FST_ERR_VALIDATION', /additional/],
      [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }), 'top_logprobs', 'INVALID_OPTION', /logprobs: true/],
      [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] }), 'tools', 'UNSUPPORTED_PARAMETER', /tools/],
      [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 'messages[0].content[0]', 'UNSUPPORTED_PARAMETER', /text parts/],
      [() => client.chat.completions.create({ model: 'm', messages: [] }), 'messages', 'FST_ERR_VALIDATION', /fewer than 1/],
    ];
    for (const [request, param, code, message] of cases) {
      const error = (await request().then(() => null, (e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error, param).toBeInstanceOf(OpenAI.APIError);
      expect({ status: error.status, param: error.param, code: error.code }, param).toEqual({ status: 400, param, code });
      expect(error.message).toMatch(message);
      // the engine's own names for these fields never reach the client
      expect(error.message).not.toMatch(/maxCacheTokens|compressionRatio|protectedWindow|maxTokens|evictEvery/);
    }
    await expectPoolEmpty(server);
  });
});
