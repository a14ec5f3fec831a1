/**
 * The tokenizers: `TextTokenizer` is what the SDK uses; `SentencePieceTokenizer` (also exported as
 * `Tokenizer`, its name before byte-level BPE came) reads llama2.c's tokenizer.bin and GGUF `llama`
 * vocabularies, `BpeTokenizer` GGUF `gpt2` ones. Each part lives in `./tokenizers/`.
 */
export { SentencePieceTokenizer, SentencePieceTokenizer as Tokenizer, type SentencePieceOptions } from './tokenizers/sentencepiece.js';
export { BpeTokenizer, type BpeVocabulary } from './tokenizers/bpe.js';
export { parseLlama2cTokenizer } from './tokenizers/llama2c-tokenizer.js';
export { TokenTextStream } from './tokenizers/text-stream.js';
export { preTokenizerNames } from './tokenizers/pre-tokenizers.js';
export {
  TokenType,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokenIds,
  type TextTokenizer,
} from './tokenizers/types.js';
