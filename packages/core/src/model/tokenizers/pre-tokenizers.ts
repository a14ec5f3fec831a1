import { ModelFormatError } from '../../errors.js';

/**
 * Byte-level BPE vocabularies merge inside words only; how text is cut into words is the
 * pre-tokenizer, named in GGUF by `tokenizer.ggml.pre`. The regular expressions are those of the
 * models' `tokenizer.json` as llama.cpp's llama-vocab.cpp writes them (case-insensitive contractions
 * spelt out). `\s` means Unicode White_Space, as in the Rust `tokenizers` and llama.cpp (JavaScript's
 * `\s` also takes U+FEFF and misses U+0085).
 */
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

export interface PreTokenizer {
  /** The `tokenizer.ggml.pre` name it was chosen by. */
  readonly name: string;
  /** Unicode normalization applied to text before splitting (Qwen 2's tokenizer.json has NFC). */
  readonly normalize: 'NFC' | undefined;
  /** A word that is itself a vocabulary entry is one token, merges or not (Llama 3's `ignore_merges`). */
  readonly ignoreMerges: boolean;
  /** Whether `encode` adds BOS when the file does not say (llama.cpp's default for this name). */
  readonly addBos: boolean;
  /** The words of `text`: each expression in turn cuts every piece into its matches and the gaps between them. */
  split(text: string): string[];
}

interface Recipe {
  expressions: readonly string[];
  normalize?: 'NFC';
  ignoreMerges?: boolean;
  addBos?: boolean;
}

const LLAMA3_RECIPE: Recipe = { expressions: [LLAMA3], ignoreMerges: true, addBos: true };
const GPT2_RECIPE: Recipe = { expressions: [GPT2] };
const RECIPES: Readonly<Record<string, Recipe>> = {
  'llama-bpe': LLAMA3_RECIPE,
  llama3: LLAMA3_RECIPE,
  'llama-v3': LLAMA3_RECIPE,
  qwen2: { expressions: [QWEN2], normalize: 'NFC' },
  smollm: { expressions: ['\\p{N}', GPT2] }, // digits one by one, then GPT-2's words
  'gpt-2': GPT2_RECIPE,
  gpt2: GPT2_RECIPE,
  // llama.cpp's fallback for files that name no pre-tokenizer
  default: { expressions: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
};

/** The pre-tokenizers this package knows, by their GGUF `tokenizer.ggml.pre` names. */
export const preTokenizerNames: readonly string[] = Object.keys(RECIPES);

function compile(expression: string): RegExp {
  const source = expression.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
  return new RegExp(source, 'gu');
}

function cut(regex: RegExp, piece: string, out: string[]): void {
  let last = 0;
  for (const match of piece.matchAll(regex)) {
    if (match.index > last) out.push(piece.slice(last, match.index));
    out.push(match[0]);
    last = match.index + match[0].length;
  }
  if (last < piece.length) out.push(piece.slice(last));
}

/** The pre-tokenizer a GGUF file names (`default` when it names none); an unknown name is a ModelFormatError. */
export function preTokenizer(name: string | undefined): PreTokenizer {
  const key = name ?? 'default';
  const recipe = Object.hasOwn(RECIPES, key) ? RECIPES[key] : undefined;
  if (!recipe) {
    throw new ModelFormatError(
      `GGUF: tokenizer.ggml.pre is "${key}", a pre-tokenizer this loader does not know (known: ${preTokenizerNames.join(', ')}).`,
    );
  }
  const regexes = recipe.expressions.map(compile);
  return {
    name: key,
    normalize: recipe.normalize,
    ignoreMerges: recipe.ignoreMerges ?? false,
    addBos: recipe.addBos ?? false,
    split(text: string): string[] {
      let pieces = [text];
      for (const regex of regexes) {
        const next: string[] = [];
        for (const piece of pieces) cut(regex, piece, next);
        pieces = next;
      }
      return pieces;
    },
  };
}
