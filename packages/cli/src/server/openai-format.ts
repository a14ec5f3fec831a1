import type { ChoiceResult, LogprobEntry, TokenLogprob } from './engine-protocol.js';

// OpenAI's response shapes: text completions (`text_completion`), chat completions
// (`chat.completion`, `chat.completion.chunk`), model lists and errors.

/** OpenAI's finish reasons; a request cancelled while the server shuts down ends as `stop`. */
export type FinishReason = 'stop' | 'length';
export const finishReason = (reason: ChoiceResult['finishReason']): FinishReason => (reason === 'length' ? 'length' : 'stop');

export interface Identity {
  id: string;
  created: number;
  model: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/**
 * Token counts of a request: each prompt counted once (however many choices it has: `n` choices
 * share their prompt), every choice's tokens.
 */
export function usageOf(results: readonly ChoiceResult[], n: number): Usage {
  const prompt = results.filter((_, index) => index % n === 0).reduce((sum, r) => sum + r.promptTokens, 0);
  const completion = results.reduce((sum, r) => sum + r.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Legacy completions `logprobs`: parallel lists, the alternatives as `{ text: logprob }`, offsets into the answer. */
export function completionLogprobs(entries: readonly LogprobEntry[]) {
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [t.token, t.logprob]))),
    text_offset: entries.map((e) => e.offset),
  };
}

const chatToken = ({ token, logprob, bytes }: TokenLogprob) => ({ token, logprob, bytes });

/** Chat `logprobs`: one entry per token, with its bytes and its `top_logprobs`. */
export function chatLogprobs(entries: readonly LogprobEntry[]) {
  return { content: entries.map((e) => ({ ...chatToken(e), top_logprobs: e.top.map(chatToken) })), refusal: null };
}

/** adakv's own report on a response: what compression did to the cache. */
const adakvOf = (results: readonly ChoiceResult[]) => ({
  evicted_tokens: results.reduce((sum, r) => sum + r.evictedTokens, 0),
  /** The most K/V bytes any one choice held at once. */
  peak_kv_bytes: results.reduce((most, r) => Math.max(most, r.peakKvBytes), 0),
  preemptions: results.reduce((sum, r) => sum + r.preemptions, 0),
});

/** A non-streaming `text_completion` response. */
export function completionResponse(identity: Identity, results: readonly ChoiceResult[], n: number) {
  return {
    ...identity,
    object: 'text_completion',
    choices: results.map((result, index) => ({
      text: result.text,
      index,
      logprobs: result.logprobs ? completionLogprobs(result.logprobs) : null,
      finish_reason: finishReason(result.finishReason),
    })),
    usage: usageOf(results, n),
    adakv: adakvOf(results),
  };
}

/** A non-streaming `chat.completion` response. */
export function chatResponse(identity: Identity, results: readonly ChoiceResult[], n: number) {
  return {
    ...identity,
    object: 'chat.completion',
    choices: results.map((result, index) => ({
      index,
      message: { role: 'assistant', content: result.text, refusal: null },
      logprobs: result.logprobs ? chatLogprobs(result.logprobs) : null,
      finish_reason: finishReason(result.finishReason),
    })),
    usage: usageOf(results, n),
    adakv: adakvOf(results),
  };
}

const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

/**
 * The events of one streamed response, completions or chat. With `includeUsage` (OpenAI's
 * `stream_options.include_usage`) every chunk carries `usage: null` and one last chunk, with no
 * choices, carries the usage.
 */
export class StreamFormat {
  constructor(
    private readonly kind: 'completion' | 'chat',
    private readonly identity: Identity,
    private readonly includeUsage: boolean,
  ) {}

  private chunk(choice: object): string {
    return event({
      ...this.identity,
      object: this.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      choices: [choice],
      ...(this.includeUsage ? { usage: null } : {}),
    });
  }

  /** A chat choice's first chunk: the role (completions have none). */
  start(index: number): string {
    return this.kind === 'chat' ? this.chunk({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }) : '';
  }

  private logprobs(entries: readonly LogprobEntry[] | undefined) {
    if (!entries || entries.length === 0) return null;
    return this.kind === 'chat' ? chatLogprobs(entries) : completionLogprobs(entries);
  }

  /** A piece of a choice's text, with its tokens' log-probabilities when they were asked for. */
  text(index: number, text: string, logprobs?: readonly LogprobEntry[]): string {
    return this.kind === 'chat'
      ? this.chunk({ index, delta: { content: text }, logprobs: this.logprobs(logprobs), finish_reason: null })
      : this.chunk({ text, index, logprobs: this.logprobs(logprobs), finish_reason: null });
  }

  finish(index: number, reason: ChoiceResult['finishReason']): string {
    return this.kind === 'chat'
      ? this.chunk({ index, delta: {}, logprobs: null, finish_reason: finishReason(reason) })
      : this.chunk({ text: '', index, logprobs: null, finish_reason: finishReason(reason) });
  }

  /** The last chunk with `include_usage`, then the end of the stream. */
  end(results: readonly ChoiceResult[], n: number): string {
    const usage = this.includeUsage
      ? event({ ...this.identity, object: this.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', choices: [], usage: usageOf(results, n) })
      : '';
    return `${usage}data: [DONE]\n\n`;
  }
}

/** `GET /v1/models`: the one model this server serves. */
export function modelList(model: { id: string; created: number }) {
  return { object: 'list', data: [modelObject(model)] };
}

export function modelObject({ id, created }: { id: string; created: number }) {
  return { id, object: 'model', created, owned_by: 'adakv' };
}

/** The error types this server answers with, as OpenAI names them. */
export type ErrorType = 'invalid_request_error' | 'rate_limit_error' | 'server_error';

/** An OpenAI-style error body: `{ error: { message, type, param, code } }`. */
export function errorBody(message: string, type: ErrorType, code: string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

/** One server-sent event carrying an error, then the end of the stream, for a stream that already started. */
export function errorEvent(message: string, type: ErrorType, code: string | null): string {
  return `data: ${JSON.stringify(errorBody(message, type, code))}\n\ndata: [DONE]\n\n`;
}
