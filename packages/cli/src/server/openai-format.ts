import type { CompletionResult } from '@adakv/core';

const finishReasons = { length: 'length', stop: 'stop', cancelled: 'stop' } as const;

interface Identity {
  id: string;
  created: number;
  model: string;
}

/** A non-streaming `text_completion` response. */
export function completionResponse(identity: Identity, result: CompletionResult) {
  return {
    ...identity,
    object: 'text_completion',
    choices: [{ text: result.text, index: 0, logprobs: null, finish_reason: finishReasons[result.finishReason] }],
    usage: {
      prompt_tokens: result.promptTokens.length,
      completion_tokens: result.tokens.length,
      total_tokens: result.promptTokens.length + result.tokens.length,
    },
    adakv: { evicted_tokens: result.evictedTokens, preemptions: result.preemptions },
  };
}

/** One server-sent event of a streamed completion. */
export function completionChunk(identity: Identity, text: string, finishReason: CompletionResult['finishReason'] | null): string {
  const chunk = {
    ...identity,
    object: 'text_completion',
    choices: [{ text, index: 0, logprobs: null, finish_reason: finishReason === null ? null : finishReasons[finishReason] }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
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
