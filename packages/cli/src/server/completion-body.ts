import type { CompletionRequest } from '@adakv/core';

/** The body of `POST /v1/completions`: OpenAI's fields plus adakv's cache controls. */
export interface CompletionBody {
  model?: string;
  prompt: string;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stream?: boolean;
  method?: string;
  max_cache_tokens?: number;
  compression_ratio?: number;
  protected_window?: number;
}

/** JSON schema fastify validates the body against (a failure is a 400 with the reason). */
export const completionBodySchema = {
  type: 'object',
  required: ['prompt'],
  additionalProperties: false,
  properties: {
    model: { type: 'string' },
    prompt: { type: 'string', minLength: 1 },
    max_tokens: { type: 'integer', minimum: 1 },
    temperature: { type: 'number', minimum: 0 },
    top_p: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    seed: { type: 'integer' },
    stream: { type: 'boolean' },
    method: { type: 'string' },
    max_cache_tokens: { type: 'integer', minimum: 1 },
    compression_ratio: { type: 'number', minimum: 1 },
    protected_window: { type: 'integer', minimum: 1 },
    // accepted for compatibility with OpenAI clients, ignored
    n: { type: 'integer', const: 1 },
    user: { type: 'string' },
  },
} as const;

/** The scheduler request for a validated body. */
export function toCompletionRequest(body: CompletionBody, defaultMaxTokens: number): CompletionRequest {
  return {
    prompt: body.prompt,
    maxTokens: body.max_tokens ?? defaultMaxTokens,
    ...(body.temperature === undefined ? {} : { temperature: body.temperature }),
    ...(body.top_p === undefined ? {} : { topP: body.top_p }),
    ...(body.seed === undefined ? {} : { seed: body.seed }),
    ...(body.method === undefined ? {} : { method: body.method }),
    ...(body.max_cache_tokens === undefined ? {} : { maxCacheTokens: body.max_cache_tokens }),
    ...(body.compression_ratio === undefined ? {} : { compressionRatio: body.compression_ratio }),
    ...(body.protected_window === undefined ? {} : { protectedWindow: body.protected_window }),
  };
}
