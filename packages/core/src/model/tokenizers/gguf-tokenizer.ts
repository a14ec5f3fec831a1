import { ModelFormatError } from '../../errors.js';
import { BpeTokenizer } from './bpe.js';
import { SentencePieceTokenizer } from './sentencepiece.js';
import type { SpecialTokenOptions } from './special-tokens.js';
import type { TextTokenizer } from './types.js';

type Metadata = Readonly<Record<string, unknown>>;

function optionalNumber(metadata: Metadata, key: string): number | undefined {
  const value = metadata[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' && typeof value !== 'bigint') throw new ModelFormatError(`GGUF: ${key} is not a number (${String(value)}).`);
  return Number(value);
}

function optionalBoolean(metadata: Metadata, key: string): boolean | undefined {
  const value = metadata[key];
  if (value === undefined || typeof value === 'boolean') return value;
  throw new ModelFormatError(`GGUF: ${key} is not a boolean (${String(value)}).`);
}

/** An array entry of exactly `length` items (when given), or undefined when absent. */
function optionalArray(metadata: Metadata, key: string, length?: number): readonly unknown[] | undefined {
  const value = metadata[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ModelFormatError(`GGUF: ${key} is not an array.`);
  if (length !== undefined && value.length !== length) {
    throw new ModelFormatError(`GGUF: ${key} has ${value.length} entries for a vocabulary of ${length}.`);
  }
  return value;
}

function specialIds(metadata: Metadata): SpecialTokenOptions {
  const id = (name: string) => optionalNumber(metadata, `tokenizer.ggml.${name}_token_id`);
  return { bos: id('bos'), eos: id('eos'), eot: id('eot'), eom: id('eom'), pad: id('padding'), unk: id('unknown') };
}

/**
 * The tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata: `llama` (SentencePiece:
 * tokens with U+2581 for spaces, scores, token types, `add_space_prefix`) or `gpt2` (byte-level BPE:
 * tokens, merges, token types, the pre-tokenizer `pre`); special token ids and the add-BOS/EOS flags for
 * both. A file without tokenizer metadata (or `none`) gives undefined; any other kind is refused.
 */
export function readGgufTokenizer(metadata: Metadata, vocabSize: number): TextTokenizer | undefined {
  const kind = metadata['tokenizer.ggml.model'];
  if (kind === undefined || kind === 'none' || kind === 'no_vocab') return undefined;
  if (kind !== 'llama' && kind !== 'gpt2') {
    throw new ModelFormatError(`GGUF: tokenizer.ggml.model is ${JSON.stringify(kind)}; supported: "llama" (SentencePiece) and "gpt2" (byte-level BPE).`);
  }
  const tokens = optionalArray(metadata, 'tokenizer.ggml.tokens');
  if (!tokens || tokens.length !== vocabSize) {
    throw new ModelFormatError(`GGUF: tokenizer.ggml.tokens has ${tokens ? tokens.length : 'no'} entries for a vocabulary of ${vocabSize}.`);
  }
  const types = optionalArray(metadata, 'tokenizer.ggml.token_type', vocabSize)?.map(Number);
  const common = {
    special: specialIds(metadata),
    addBos: optionalBoolean(metadata, 'tokenizer.ggml.add_bos_token'),
    addEos: optionalBoolean(metadata, 'tokenizer.ggml.add_eos_token'),
  };
  if (kind === 'gpt2') {
    const merges = optionalArray(metadata, 'tokenizer.ggml.merges');
    if (!merges) throw new ModelFormatError('GGUF: a gpt2 (BPE) tokenizer without tokenizer.ggml.merges.');
    const pre = metadata['tokenizer.ggml.pre'];
    return new BpeTokenizer({ tokens: tokens.map(String), merges: merges.map(String), types, pre: pre === undefined ? undefined : String(pre), ...common });
  }
  const scores = optionalArray(metadata, 'tokenizer.ggml.scores', vocabSize);
  const encoder = new TextEncoder();
  return new SentencePieceTokenizer(
    tokens.map((token) => encoder.encode(String(token).replaceAll('\u2581', ' '))),
    Float32Array.from(scores ? scores.map(Number) : tokens.map(() => 0)),
    { ...common.special, types, addBos: common.addBos, addEos: common.addEos, addSpacePrefix: optionalBoolean(metadata, 'tokenizer.ggml.add_space_prefix') },
  );
}

/** The Jinja chat template a GGUF file carries (`tokenizer.chat_template`), if any. */
export function readChatTemplate(metadata: Metadata): string | undefined {
  const template = metadata['tokenizer.chat_template'];
  return typeof template === 'string' && template.length > 0 ? template : undefined;
}
