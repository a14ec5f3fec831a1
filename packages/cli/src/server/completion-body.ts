import { MAX_SEED, getMethod } from '@adakv/core';
import type { ChatMessage, JobSpec, SequenceParams } from './engine-protocol.js';

// The bodies of POST /v1/completions and POST /v1/chat/completions: OpenAI's fields (those adakv
// implements, those it accepts and ignores, and those it refuses unless they ask for nothing) plus
// adakv's cache controls. Unknown fields are refused: a typo should not be silently dropped.

type Nullable<T> = T | null;

/** adakv's own fields, the same on both routes (the openai client sends them with `extra_body`). */
interface CacheFields {
  method?: string;
  max_cache_tokens?: number;
  compression_ratio?: number;
  max_kv_bytes?: number;
  protected_window?: number;
}

/** What both routes share. */
interface CommonFields extends CacheFields {
  model?: string;
  max_tokens?: Nullable<number>;
  temperature?: Nullable<number>;
  top_p?: Nullable<number>;
  seed?: Nullable<number>;
  n?: Nullable<number>;
  stream?: Nullable<boolean>;
  stream_options?: Nullable<{ include_usage?: Nullable<boolean> }>;
  stop?: Nullable<string | string[]>;
  frequency_penalty?: Nullable<number>;
  presence_penalty?: Nullable<number>;
  logit_bias?: Nullable<Record<string, number>>;
  user?: string;
}

export interface CompletionBody extends CommonFields {
  prompt: string | string[] | number[] | number[][];
  best_of?: Nullable<number>;
  echo?: Nullable<boolean>;
  logprobs?: Nullable<number>;
  suffix?: Nullable<string>;
}

type ContentPart = { type: string; text?: string };

export interface ChatBody extends CommonFields {
  messages: { role: string; content?: Nullable<string | ContentPart[]>; name?: string }[];
  max_completion_tokens?: Nullable<number>;
  logprobs?: Nullable<boolean>;
  top_logprobs?: Nullable<number>;
  tools?: Nullable<unknown[]>;
  tool_choice?: Nullable<string | object>;
  functions?: Nullable<unknown[]>;
  function_call?: Nullable<string | object>;
  response_format?: Nullable<{ type: string }>;
  modalities?: Nullable<string[]>;
  audio?: Nullable<object>;
  prediction?: Nullable<object>;
  web_search_options?: Nullable<object>;
}

const nullable = (type: string | string[]) => ({ type: [...(Array.isArray(type) ? type : [type]), 'null'] });
const tokenIds = { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } };

const cacheProperties = {
  method: { type: 'string' },
  max_cache_tokens: { type: 'integer', minimum: 1 },
  compression_ratio: { type: 'number', minimum: 1 },
  max_kv_bytes: { type: 'integer', minimum: 1 },
  protected_window: { type: 'integer', minimum: 1 },
};

const commonProperties = {
  model: { type: 'string' },
  max_tokens: { ...nullable('integer'), minimum: 1 },
  temperature: { ...nullable('number'), minimum: 0 },
  top_p: { ...nullable('number'), exclusiveMinimum: 0, maximum: 1 },
  seed: { ...nullable('integer'), minimum: 0, maximum: MAX_SEED },
  n: { ...nullable('integer'), minimum: 1, maximum: 128 },
  stream: nullable('boolean'),
  stream_options: { ...nullable('object'), properties: { include_usage: nullable('boolean') } },
  stop: { anyOf: [{ type: 'string' }, { type: 'array', maxItems: 16, items: { type: 'string' } }, { type: 'null' }] },
  frequency_penalty: { ...nullable('number'), minimum: -2, maximum: 2 },
  presence_penalty: { ...nullable('number'), minimum: -2, maximum: 2 },
  logit_bias: { ...nullable('object'), additionalProperties: { type: 'number', minimum: -100, maximum: 100 } },
  user: { type: 'string' },
  ...cacheProperties,
};

/** JSON schema of `POST /v1/completions` (a failure is a 400 naming the field). */
export const completionBodySchema = {
  type: 'object',
  required: ['prompt'],
  additionalProperties: false,
  properties: {
    ...commonProperties,
    prompt: {
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        tokenIds,
        { type: 'array', minItems: 1, items: tokenIds },
      ],
    },
    best_of: { ...nullable('integer'), minimum: 1, maximum: 128 },
    echo: nullable('boolean'),
    logprobs: { ...nullable('integer'), minimum: 0, maximum: 5 },
    suffix: nullable('string'),
  },
} as const;

/** JSON schema of `POST /v1/chat/completions`. */
export const chatBodySchema = {
  type: 'object',
  required: ['messages'],
  additionalProperties: false,
  properties: {
    ...commonProperties,
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
          content: {
            anyOf: [
              { type: 'string' },
              { type: 'null' },
              { type: 'array', items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } } } },
            ],
          },
          name: { type: 'string' },
        },
      },
    },
    max_completion_tokens: { ...nullable('integer'), minimum: 1 },
    logprobs: nullable('boolean'),
    top_logprobs: { ...nullable('integer'), minimum: 0, maximum: 20 },
    tools: nullable('array'),
    tool_choice: nullable(['string', 'object']),
    functions: nullable('array'),
    function_call: nullable(['string', 'object']),
    response_format: { ...nullable('object'), required: ['type'], properties: { type: { type: 'string' } } },
    modalities: { ...nullable('array'), items: { type: 'string' } },
    audio: nullable('object'),
    prediction: nullable('object'),
    web_search_options: nullable('object'),
    // accepted and ignored
    service_tier: nullable('string'),
    store: nullable('boolean'),
    metadata: nullable('object'),
    parallel_tool_calls: nullable('boolean'),
    prompt_cache_key: nullable('string'),
    safety_identifier: nullable('string'),
    reasoning_effort: nullable('string'),
    verbosity: nullable('string'),
  },
} as const;

/**
 * OpenAI fields adakv accepts and ignores (documented in the CLI README): they change nothing about
 * the answer here, or only what adakv has no notion of.
 */
export const IGNORED_FIELDS = {
  completions: ['user', 'suffix', 'echo (false)', 'best_of (equal to n)'],
  chat: ['user', 'service_tier', 'store', 'metadata', 'parallel_tool_calls', 'prompt_cache_key', 'safety_identifier', 'reasoning_effort', 'verbosity'],
} as const;

/** A request adakv cannot honour, or options that contradict each other: a 400 naming the field. */
export class RequestProblem extends Error {
  constructor(
    message: string,
    readonly param: string,
    readonly code: 'UNSUPPORTED_PARAMETER' | 'INVALID_OPTION' | 'UNKNOWN_METHOD',
  ) {
    super(message);
    this.name = 'RequestProblem';
  }
}

const unsupported = (param: string, what: string) =>
  new RequestProblem(`${param} is not supported by adakv serve yet (${what}); leave it out or set it to its default.`, param, 'UNSUPPORTED_PARAMETER');

/** `frequency_penalty`, `presence_penalty` and `logit_bias` as the engine takes them (token ids checked against the vocabulary). */
function logitParams(body: CommonFields, vocabSize: number): Pick<SequenceParams, 'frequencyPenalty' | 'presencePenalty' | 'logitBias'> {
  const bias: [number, number][] = [];
  for (const [key, value] of Object.entries(body.logit_bias ?? {})) {
    const token = Number(key);
    if (!/^\d+$/.test(key) || token >= vocabSize) {
      throw new RequestProblem(`logit_bias keys must be token ids from 0 to ${vocabSize - 1}, got "${key}".`, 'logit_bias', 'INVALID_OPTION');
    }
    if (value !== 0) bias.push([token, value]);
  }
  return {
    ...(body.frequency_penalty ? { frequencyPenalty: body.frequency_penalty } : {}),
    ...(body.presence_penalty ? { presencePenalty: body.presence_penalty } : {}),
    ...(bias.length > 0 ? { logitBias: bias } : {}),
  };
}

/** The cache fields, checked as the scheduler would, with the names the client uses. */
function cacheParams(body: CacheFields, evictEvery: number): Pick<SequenceParams, 'method' | 'maxCacheTokens' | 'compressionRatio' | 'maxKvBytes' | 'protectedWindow'> {
  let scored = true;
  if (body.method !== undefined) {
    try {
      scored = getMethod(body.method).scorer !== null;
    } catch (error) {
      throw new RequestProblem((error as Error).message, 'method', 'UNKNOWN_METHOD');
    }
  }
  const limits = (['max_cache_tokens', 'compression_ratio', 'max_kv_bytes'] as const).filter((name) => body[name] !== undefined);
  if (limits.length > 1) {
    throw new RequestProblem(`Give one of max_cache_tokens, compression_ratio and max_kv_bytes, not ${limits.join(' and ')}.`, limits[1]!, 'INVALID_OPTION');
  }
  const window = body.protected_window ?? 16;
  if (scored && body.max_cache_tokens !== undefined && body.max_cache_tokens < window + evictEvery) {
    throw new RequestProblem(
      `max_cache_tokens (${body.max_cache_tokens}) must be at least protected_window + ${evictEvery} (${window} + ${evictEvery} = ${window + evictEvery}): ` +
        `the cache keeps the protected window and room for the ${evictEvery} tokens decoded between evictions.`,
      'max_cache_tokens',
      'INVALID_OPTION',
    );
  }
  return {
    ...(body.method === undefined ? {} : { method: body.method }),
    ...(body.max_cache_tokens === undefined ? {} : { maxCacheTokens: body.max_cache_tokens }),
    ...(body.compression_ratio === undefined ? {} : { compressionRatio: body.compression_ratio }),
    ...(body.max_kv_bytes === undefined ? {} : { maxKvBytes: body.max_kv_bytes }),
    ...(body.protected_window === undefined ? {} : { protectedWindow: body.protected_window }),
  };
}

function params(body: CommonFields, maxTokens: number, defaults: JobDefaults, logprobs: number | undefined): SequenceParams {
  return {
    maxTokens,
    ...(body.temperature == null ? {} : { temperature: body.temperature }),
    ...(body.top_p == null ? {} : { topP: body.top_p }),
    ...(body.seed == null ? {} : { seed: body.seed }),
    ...cacheParams(body, defaults.evictEvery),
    ...logitParams(body, defaults.vocabSize),
    ...(logprobs === undefined ? {} : { logprobs }),
  };
}

const stopStrings = (stop: CommonFields['stop']): string[] => (stop == null ? [] : (Array.isArray(stop) ? stop : [stop]).filter((s) => s.length > 0));

export interface JobDefaults {
  /** `max_tokens` when a request gives none (or null). */
  readonly maxTokens: number;
  readonly evictEvery: number;
  /** The model's vocabulary: `logit_bias` keys must be below it. */
  readonly vocabSize: number;
  readonly receivedAt: number;
}

/** The engine job of a validated completions body (throws `RequestProblem` for what it cannot honour). */
export function completionJob(body: CompletionBody, defaults: JobDefaults): JobSpec {
  const n = body.n ?? 1;
  if (body.best_of != null && body.best_of !== n) {
    throw unsupported('best_of', 'best_of equal to n is accepted; ranking more candidates than are returned is not');
  }
  if (body.echo === true) throw unsupported('echo', 'only echo: false is accepted');
  const prompts: (string | number[])[] =
    typeof body.prompt === 'string' ? [body.prompt] : typeof body.prompt[0] === 'number' ? [body.prompt as number[]] : (body.prompt as (string | number[])[]);
  return {
    input: { kind: 'completion', prompts },
    n,
    params: params(body, body.max_tokens ?? defaults.maxTokens, defaults, body.logprobs ?? undefined),
    stop: stopStrings(body.stop),
    stream: body.stream === true,
    receivedAt: defaults.receivedAt,
  };
}

const ROLES: Record<string, ChatMessage['role']> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant', tool: 'tool', function: 'tool' };

/** The engine job of a validated chat body (throws `RequestProblem` for what it cannot honour). */
export function chatJob(body: ChatBody, defaults: JobDefaults): JobSpec {
  if (body.top_logprobs != null && body.logprobs !== true) {
    throw new RequestProblem('top_logprobs needs logprobs: true.', 'top_logprobs', 'INVALID_OPTION');
  }
  if (body.tools && body.tools.length > 0) throw unsupported('tools', 'no tool calling');
  if (body.functions && body.functions.length > 0) throw unsupported('functions', 'no function calling');
  for (const param of ['tool_choice', 'function_call'] as const) {
    const value = body[param];
    if (value != null && value !== 'none' && value !== 'auto') throw unsupported(param, 'no tool calling; "none" and "auto" are accepted');
  }
  if (body.response_format && body.response_format.type !== 'text') throw unsupported('response_format', 'only {"type": "text"}');
  if (body.modalities && body.modalities.some((m) => m !== 'text')) throw unsupported('modalities', 'text only');
  for (const param of ['audio', 'prediction', 'web_search_options'] as const) if (body[param] != null) throw unsupported(param, 'text completion only');
  const messages = body.messages.map((message, i): ChatMessage => {
    const { content } = message;
    let text = '';
    if (typeof content === 'string') text = content;
    else if (Array.isArray(content)) {
      content.forEach((part, j) => {
        if (part.type !== 'text' || typeof part.text !== 'string') throw unsupported(`messages[${i}].content[${j}]`, 'text parts only');
        text += part.text;
      });
    }
    return { role: ROLES[message.role]!, content: text };
  });
  const n = body.n ?? 1;
  return {
    input: { kind: 'chat', messages },
    n,
    params: params(body, body.max_completion_tokens ?? body.max_tokens ?? defaults.maxTokens, defaults, body.logprobs === true ? (body.top_logprobs ?? 0) : undefined),
    stop: stopStrings(body.stop),
    stream: body.stream === true,
    receivedAt: defaults.receivedAt,
  };
}

/** How many sequences a job runs. */
export const sequencesOf = (job: JobSpec): number => (job.input.kind === 'chat' ? 1 : job.input.prompts.length) * job.n;
