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

/** An OpenAI-style error body. */
export function errorBody(message: string, type: string, code: string | null) {
  return { error: { message, type, code } };
}
