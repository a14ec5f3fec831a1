export { type ModelConfig, cacheGeometry, validateConfig } from './config.js';
export type { LayerWeights, ModelWeights, StoredLayerWeights, StoredTensor, StoredWeights } from './weights.js';
export type { RopeStyle } from './rope.js';
export type { Model, ModelSource } from './model.js';
export type { LayerObservation } from './observation.js';
export {
  BpeTokenizer,
  SentencePieceTokenizer,
  Tokenizer,
  TokenTextStream,
  TokenType,
  parseLlama2cTokenizer,
  preTokenizerNames,
  type BpeVocabulary,
  type DecodeOptions,
  type EncodeOptions,
  type SentencePieceOptions,
  type SpecialTokenIds,
  type TextTokenizer,
} from './tokenizer.js';
export { PLAIN_CHAT_TEMPLATE, encodeChat, formatChat, type ChatMessage, type ChatOptions } from './chat.js';
export { loadLlama2cModel } from './llama2c.js';
export { Transformer, type PrefillOptions, type PrefillOutput } from './forward.js';
export { MAX_SEED, Rng, Sampler, argmax, checkSeed, type SamplingOptions } from './sampler.js';
export {
  Generator,
  type AfterPrefill,
  type GeneratorOptions,
  type ContinueResult,
  type PrefillProgress,
  type PrefillResult,
  type GeneratedToken,
  type GenerateOptions,
  type GenerateResult,
} from './generator.js';
export { loadGgufModel, loadModel, isGguf, type LoadModelOptions } from './load.js';
export { TensorType, dequantize, halfToFloat, tensorTypeName } from './dequantize.js';
