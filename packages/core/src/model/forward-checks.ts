import { ContextOverflowError, InvalidNumberError, OptionError } from '../errors.js';
import type { KvStore } from '../store.js';
import type { ModelConfig } from './config.js';

/**
 * Throws the SDK's typed errors for a prompt (or a chunk of one, at positions `start ..`) no forward
 * pass can prefill: no tokens, past the context, ids outside the vocabulary, or a store that does not
 * end before `start` (empty for `start` 0).
 */
export function checkPrefillInput(config: ModelConfig, tokens: ArrayLike<number>, store: KvStore, start = 0): void {
  const n = tokens.length;
  if (n === 0) throw new OptionError('prefill: there are no tokens to process; give at least one (e.g. BOS).');
  if (!Number.isInteger(start) || start < 0) throw new OptionError(`prefill: start must be a whole position >= 0, got ${start}.`);
  if (start + n > config.contextLength) {
    throw new ContextOverflowError(
      `Position ${start + n - 1} is beyond the model's context of ${config.contextLength} tokens (${start + n} tokens given); shorten the prompt.`,
    );
  }
  for (let t = 0; t < n; t++) checkToken(config, tokens[t]!);
  for (let layer = 0; layer < config.layers; layer++) {
    for (let head = 0; head < config.kvHeads; head++) {
      const length = store.length(layer, head);
      if (start === 0 && length !== 0) {
        throw new OptionError('prefill: the store already holds entries; prefill starts a sequence (reset the session first).');
      }
      if (length > 0 && store.positions(layer, head)[length - 1]! >= start) {
        throw new OptionError(`prefill: the store already holds position ${start} or later; a chunk continues after the store's last position.`);
      }
    }
  }
}

/** Throws an OptionError unless `token` is an id of the model's vocabulary. */
export function checkToken(config: ModelConfig, token: number): void {
  if (!Number.isInteger(token) || token < 0 || token >= config.vocabSize) {
    throw new OptionError(`Token ${token} is outside the vocabulary [0, ${config.vocabSize}).`);
  }
}

/** Throws a ContextOverflowError when a decoded token's `position` is past the model's context. */
export function checkPosition(config: ModelConfig, position: number): void {
  if (position >= config.contextLength) {
    throw new ContextOverflowError(
      `Position ${position} is beyond the model's context of ${config.contextLength} tokens; start a new sequence or generate fewer tokens.`,
    );
  }
}

/** The error for logits that are not all finite, where the engine reports only that (greedy decode). */
export function nonFiniteLogits(position: number): InvalidNumberError {
  return new InvalidNumberError(
    `The model computed a non-finite logit at position ${position}: its weights or activations hold NaN or Infinity; check the model file.`,
  );
}

/**
 * Throws an InvalidNumberError when `logits` hold NaN or an infinity: the model's weights or
 * activations are broken, and sampling from them would silently emit token 0. One pass per step.
 */
export function checkLogits(logits: Float32Array, position: number): Float32Array {
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) {
      throw new InvalidNumberError(
        `The model computed a non-finite logit (${logits[i]}) for token ${i} at position ${position}: its weights or activations hold NaN or Infinity; check the model file.`,
      );
    }
  }
  return logits;
}
