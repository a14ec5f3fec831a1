import {
  type Backend,
  type BytePlan,
  type CompressionPlan,
  Generator,
  type LayerObservation,
  type Model,
  Rng,
  Sampler,
  TokenTextStream,
  observedLength,
  cacheGeometry,
} from '@adakv/core';
import { type CacheSample, sampleCache } from './cache-frames.js';
import { EVICT_EVERY, type Settings, evictsWhileDecoding, sharedPrefix } from './settings.js';

export type Side = 'compressed' | 'full';

export interface LiveStats {
  readonly compressedBytes: number;
  readonly fullBytes: number;
  readonly plan: CompressionPlan | null;
  /** Tokens both answers share before they first differ. */
  readonly agreeing: number;
  readonly generated: number;
  readonly tokensPerSecond: number;
}

export interface RunResult {
  readonly tokens: Record<Side, number[]>;
  readonly plan: CompressionPlan | null;
  readonly observations: readonly LayerObservation[];
  /** With a KV byte budget: the format and entries chosen, and every format considered. */
  readonly bytePlan: BytePlan | null;
}

/** Who watches the compressed side's cache as it decodes, and how often (in decoded tokens). */
export interface CacheWatcher {
  readonly every: number;
  /** Gets a sample after prefill, every `every` decoded tokens, and after the last token. */
  readonly onSample: (sample: CacheSample) => void;
}

const yieldToPage = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Generates the same prompt twice, token by token and interleaved so both stream together: once with
 * the cache compressed after prefill by the chosen method (and, with a cache limit, kept within it
 * while decoding) or held to a KV byte budget (format and entries chosen together), once with the
 * full cache.
 */
export async function runSideBySide(
  model: Model,
  settings: Settings,
  backend: Backend,
  onToken: (side: Side, text: string) => void,
  onStats: (stats: LiveStats) => void,
  signal?: AbortSignal,
  watcher?: CacheWatcher,
): Promise<RunResult> {
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw new Error('This model has no tokenizer; load one with it.');
  const prompt = tokenizer.encode(settings.prompt);
  const geometry = cacheGeometry(model.config);
  if (prompt.length + settings.steps > model.config.contextLength) {
    throw new Error(`The prompt (${prompt.length} tokens) plus ${settings.steps} new tokens exceed the model's context of ${model.config.contextLength}.`);
  }
  let observations: readonly LayerObservation[] = [];
  const options = { window: settings.window, alpha: settings.alpha };
  const compressed = settings.kvBytes !== null
    ? new Generator(model, { backend, kvBytes: { bytes: settings.kvBytes, options, fullPrecisionWindow: settings.fullPrecisionWindow } })
    : new Generator(model, {
      backend,
      ...(evictsWhileDecoding(settings)
        ? { eviction: { method: settings.method, maxTokensPerHead: settings.maxCacheTokens!, every: EVICT_EVERY, options } }
        : {}),
      afterPrefill: ({ store, observations: seen, outputProjection }) => {
        observations = seen;
        if (settings.method === 'full' || observedLength(geometry, seen[0]!) <= settings.window) return null;
        return backend.compress(store, seen, { method: settings.method, budget: settings.budget, options, outputProjection });
      },
    });
  const generators = { compressed, full: new Generator(model, { backend }) };
  // a byte budget swaps the compressed side's store at prefill: always read it from its generator
  const store = (side: Side) => generators[side].store;
  try {
    const sides: Side[] = ['compressed', 'full'];
    const prefill = { compressed: await generators.compressed.prefill(prompt), full: await generators.full.prefill(prompt) };
    const bytePlan = prefill.compressed.bytePlan ?? null;
    if (bytePlan) observations = prefill.compressed.observations;
    const plan = bytePlan?.plan ?? (prefill.compressed.afterPrefill as CompressionPlan | null) ?? null;
    // The same sampler settings and seed on both sides, as Generator.generate uses them.
    const sampler = () => new Sampler(model.config.vocabSize, { temperature: settings.temperature, topP: 0.9 }, new Rng(settings.seed));
    const samplers = { compressed: sampler(), full: sampler() };
    const next = { compressed: samplers.compressed.sample(prefill.compressed.logits), full: samplers.full.sample(prefill.full.logits) };
    const texts = { compressed: new TokenTextStream(tokenizer, prompt[prompt.length - 1]), full: new TokenTextStream(tokenizer, prompt[prompt.length - 1]) };
    const tokens: Record<Side, number[]> = { compressed: [], full: [] };
    const done = { compressed: false, full: false };
    const started = performance.now();
    let sampled = -1;
    const sample = () => {
      if (!watcher) return;
      sampled = tokens.compressed.length;
      watcher.onSample(sampleCache(store('compressed'), sampled, generators.compressed.eviction?.evictedTokens ?? 0));
    };
    sample();
    for (let i = 0; i < settings.steps && !(done.compressed && done.full); i++) {
      signal?.throwIfAborted();
      for (const side of sides) {
        if (done[side]) continue;
        const token = next[side];
        if (tokenizer.isEndOfText(token)) {
          done[side] = true;
          continue;
        }
        tokens[side].push(token);
        onToken(side, texts[side].push(token));
        // greedy on WebGPU takes the argmax there: only the token comes back
        if (i + 1 < settings.steps) next[side] = await generators[side].stepAndSample(token, samplers[side]);
      }
      onStats({
        compressedBytes: store('compressed').bytes(),
        fullBytes: store('full').bytes(),
        plan,
        agreeing: sharedPrefix(tokens.compressed, tokens.full),
        generated: tokens.compressed.length,
        tokensPerSecond: (tokens.compressed.length + tokens.full.length) / ((performance.now() - started) / 1000),
      });
      if (watcher && tokens.compressed.length !== sampled && tokens.compressed.length % watcher.every === 0) sample();
      await yieldToPage();
    }
    if (watcher && tokens.compressed.length !== sampled) sample();
    return { tokens, plan, observations, bytePlan };
  } finally {
    store('compressed').dispose();
    store('full').dispose();
  }
}
