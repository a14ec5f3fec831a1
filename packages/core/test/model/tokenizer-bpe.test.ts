import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BpeTokenizer,
  ContextOverflowError,
  Generator,
  type Model,
  ModelFormatError,
  TokenTextStream,
  TokenType,
  loadGgufModel,
  preTokenizerNames,
} from '../../src/index.js';
import { preTokenizer } from '../../src/model/tokenizers/pre-tokenizers.js';
import { gpt2TokenizerMetadata, tinyModelGguf } from './gguf-writer.js';
import { type Peer, type RealVocabulary, ggufModelOf, llama3Vocabulary, peerOf, qwen25Vocabulary } from './hf-vocab.js';
import { NFC_TEXTS, VARIED_TEXT, VARIED_TEXTS } from './varied-text.js';

const peerIds = (peer: Peer, text: string): number[] => peer.encode(text, { add_special_tokens: false });

/** Random text as users type it, without the two characters transformers.js's `\s` treats unlike Rust's (tested apart). */
const userText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 8 }),
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.constantFrom(' ', '  ', '\n', '\n\n', '\t', '\r\n', "'s", "'LL", '123456', '3.5', '<|', '|>', '<|eot_id|>', '<|im_end|>', '<tool_call>'),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join('').replace(/[\u0085\ufeff]|\p{Cs}/gu, 'x'));

const vocabularies: Array<{ name: string; load: () => RealVocabulary }> = [
  { name: 'Llama 3', load: llama3Vocabulary },
  { name: 'Qwen 2.5', load: qwen25Vocabulary },
];

for (const { name, load } of vocabularies) {
  describe(`${name}'s real vocabulary, written into a GGUF file and loaded back`, { timeout: 120_000 }, () => {
    let vocabulary: RealVocabulary;
    let model: Model;
    let tokenizer: BpeTokenizer;
    let peer: Peer;
    let plainPeer: Peer;

    beforeAll(async () => {
      vocabulary = load();
      model = await ggufModelOf(vocabulary);
      tokenizer = model.tokenizer as BpeTokenizer;
      peer = peerOf(vocabulary);
      plainPeer = peerOf(vocabulary, { controlAsText: true });
    });

    it('loads as byte-level BPE with the file’s pre-tokenizer, special ids and flags', () => {
      expect(tokenizer).toBeInstanceOf(BpeTokenizer);
      expect(tokenizer.kind).toBe('bpe');
      expect(tokenizer.vocabSize).toBe(vocabulary.spec.tokens.length);
      expect(tokenizer.pre.name).toBe(vocabulary.spec.pre);
      expect(tokenizer.specialTokens.bos).toBe(vocabulary.spec.bos);
      expect(tokenizer.specialTokens.eos).toBe(vocabulary.spec.eos);
      expect(tokenizer.addBos).toBe(vocabulary.spec.addBos);
      expect(model.chatTemplate).toBe(vocabulary.config.chat_template);
    });

    it('encodes varied text exactly as transformers.js, special tokens recognised ({ special: true })', () => {
      for (const text of VARIED_TEXTS) expect(tokenizer.encode(text, { bos: false, special: true }), text).toEqual(peerIds(peer, text));
      expect(tokenizer.encode(VARIED_TEXT, { bos: false, special: true })).toEqual(peerIds(peer, VARIED_TEXT));
    });

    it('encodes special-token text as plain text by default, as transformers.js without those added tokens', () => {
      for (const text of VARIED_TEXTS) expect(tokenizer.encode(text, { bos: false }), text).toEqual(peerIds(plainPeer, text));
      const plain = tokenizer.encode(VARIED_TEXT, { bos: false });
      expect(plain).toEqual(peerIds(plainPeer, VARIED_TEXT));
      expect(plain.some((token) => tokenizer.tokenType(token) === TokenType.control)).toBe(false);
    });

    it('encodes random text exactly as transformers.js', () => {
      fc.assert(
        fc.property(userText, (text) => {
          expect(tokenizer.encode(text, { bos: false, special: true })).toEqual(peerIds(peer, text));
          expect(tokenizer.encode(text, { bos: false })).toEqual(peerIds(plainPeer, text));
        }),
        { numRuns: 300 },
      );
    });

    it('round-trips: decode(encode(text)) === text (modulo BOS), and with special tokens when asked', () => {
      for (const text of NFC_TEXTS) {
        expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
        expect(tokenizer.decode(tokenizer.encode(text, { special: true, bos: false }), { special: true })).toBe(text);
      }
      fc.assert(
        fc.property(userText, (text) => {
          const nfc = text.normalize('NFC');
          expect(tokenizer.decode(tokenizer.encode(nfc))).toBe(nfc);
        }),
        { numRuns: 200 },
      );
    });

    it('decodes as transformers.js does (without its clean-up of spaces)', () => {
      const tokens = tokenizer.encode(VARIED_TEXT, { bos: false, special: true });
      expect(tokenizer.decode(tokens, { special: true })).toBe(peer.decode(tokens, { clean_up_tokenization_spaces: false }));
    });

    it('streams text token by token, holding back incomplete UTF-8', () => {
      const text = 'Emoji 👨‍👩‍👧‍👦 and 中文字 and é.';
      const tokens = tokenizer.encode(text, { bos: false });
      const stream = new TokenTextStream(tokenizer);
      const pieces = tokens.map((token) => stream.push(token));
      expect(pieces.join('') + stream.flush()).toBe(text);
      expect(pieces.some((piece) => piece === '')).toBe(true); // a character split over tokens waits for its last byte
      expect(pieces.every((piece) => !piece.includes('\ufffd'))).toBe(true);
    });

    it('adds BOS as the file says, and honours bos/eos overrides', () => {
      const bos = vocabulary.spec.addBos ? [tokenizer.bosToken] : [];
      expect(tokenizer.encode('Hello world')).toEqual([...bos, ...peerIds(peer, 'Hello world')]);
      expect(tokenizer.encode('Hello', { bos: true, eos: true })).toEqual([tokenizer.bosToken, ...peerIds(peer, 'Hello'), tokenizer.eosToken]);
      expect(tokenizer.encode('')).toEqual(bos);
    });

    it('refuses text past maxTokens, before merging when the lower bound shows it', () => {
      for (const text of VARIED_TEXTS) expect(tokenizer.minTokens(text, { special: true })).toBeLessThanOrEqual(tokenizer.encode(text, { special: true }).length);
      const long = VARIED_TEXT.repeat(20);
      const merge = vi.spyOn(tokenizer as unknown as { encodeText: () => void }, 'encodeText');
      try {
        expect(() => tokenizer.encode(long, { maxTokens: 100 })).toThrow(ContextOverflowError);
        expect(merge).not.toHaveBeenCalled();
      } finally {
        merge.mockRestore();
      }
      const count = tokenizer.encode(VARIED_TEXTS[0]!).length;
      expect(() => tokenizer.encode(VARIED_TEXTS[0]!, { maxTokens: count - 1 })).toThrow(new RegExp(`is ${count} tokens, more than the limit of ${count - 1}`));
      expect(tokenizer.encode(VARIED_TEXTS[0]!, { maxTokens: count })).toHaveLength(count);
    });
  });
}

describe('end of generation', { timeout: 120_000 }, () => {
  it('knows every end-of-turn token of Llama 3 and Qwen 2.5, not the other control tokens', async () => {
    const llama = (await ggufModelOf(llama3Vocabulary())).tokenizer!;
    const id = (text: string) => llama3Vocabulary().json.added_tokens.find((added) => added.content === text)!.id;
    for (const text of ['<|end_of_text|>', '<|eot_id|>', '<|begin_of_text|>']) expect(llama.isEndOfText(id(text)), text).toBe(true);
    for (const text of ['<|start_header_id|>', '<|end_header_id|>', '<|reserved_special_token_0|>']) expect(llama.isEndOfText(id(text)), text).toBe(false);
    expect(llama.isEndOfText(llama.encode('Hello', { bos: false })[0]!)).toBe(false);
    const qwen = (await ggufModelOf(qwen25Vocabulary())).tokenizer!;
    expect([151643, 151645].map((token) => qwen.isEndOfText(token))).toEqual([true, true]); // <|endoftext|>, <|im_end|>
    expect([151644, 151657].map((token) => qwen.isEndOfText(token))).toEqual([false, false]); // <|im_start|>, <tool_call>
  });

  it('the generator stops at the file’s EOT token', async () => {
    // a byte-only vocabulary (Qwen's 256 byte characters) and the tiny random model: find its first greedy token
    const spec = { tokens: qwen25Vocabulary().spec.tokens.slice(0, 256), merges: [], tokenTypes: new Array(256).fill(1), pre: 'qwen2', eos: 0 };
    const probe = await loadGgufModel(tinyModelGguf(256, gpt2TokenizerMetadata(spec)));
    const first = await new Generator(probe).generate('Hello', { steps: 2, stopAtEndOfText: false });
    const stopper = first.tokens[0]!;
    expect(probe.tokenizer!.isEndOfText(stopper)).toBe(false);
    for (const key of ['eot', 'eom'] as const) {
      const model = await loadGgufModel(tinyModelGguf(256, gpt2TokenizerMetadata({ ...spec, [key]: stopper })));
      expect(model.tokenizer!.isEndOfText(stopper)).toBe(true);
      const result = await new Generator(model).generate('Hello', { steps: 2 });
      expect(result.stopReason).toBe('end-of-text');
      expect(result.tokens).toEqual([]);
    }
  });
});

/**
 * Measured with the Python `tokenizers` 0.22.2 (the Rust library) on the same tokenizer.json files.
 * There `\s` is Unicode White_Space (U+0085 is a space, U+FEFF is not), as in llama.cpp; JavaScript's
 * `\s`, which transformers.js uses, is the reverse, so these cases are held to Rust's ids instead.
 */
const RUST_IDS: Record<string, { llama3: number[]; qwen: number[] }> = {
  '\u0085\u0085!': { llama3: [116360, 116360, 0], qwen: [126, 227, 126, 227, 0] },
  '\ufeff\ufeff!': { llama3: [3305, 3305, 0], qwen: [3225, 3225, 0] },
  'a\u0085b': { llama3: [64, 116360, 65], qwen: [64, 126, 227, 65] },
  'x \u0085 y\u0085\n': { llama3: [87, 2188, 227, 379, 116360, 198], qwen: [87, 2139, 227, 379, 126, 227, 198] },
  '\ufeffhello \ufeff world': { llama3: [3305, 15339, 76880, 1917], qwen: [3225, 14990, 75780, 1879] },
  'a \u0085\u0085 b': { llama3: [64, 2188, 227, 116360, 293], qwen: [64, 2139, 227, 126, 227, 293] },
  'hi\u0085\u0085\u0085there': { llama3: [6151, 116360, 116360, 116360, 19041], qwen: [6023, 126, 227, 126, 227, 126, 227, 18532] },
  '\ufeff\n\ufeff': { llama3: [62619, 3305], qwen: [61519, 3225] },
  // transformers.js gives [256, 3305, 220, 865] and [256, 3225, 220, 856] here
  '  \ufeff  x': { llama3: [220, 76880, 220, 865], qwen: [220, 75780, 220, 856] },
};

describe('where transformers.js differs from the Rust tokenizers', { timeout: 120_000 }, () => {
  it('treats U+0085 as whitespace and U+FEFF as not, as Rust and llama.cpp do', async () => {
    const llama = (await ggufModelOf(llama3Vocabulary())).tokenizer!;
    const qwen = (await ggufModelOf(qwen25Vocabulary())).tokenizer!;
    for (const [text, ids] of Object.entries(RUST_IDS)) {
      expect(llama.encode(text, { bos: false }), JSON.stringify(text)).toEqual(ids.llama3);
      expect(qwen.encode(text, { bos: false }), JSON.stringify(text)).toEqual(ids.qwen);
    }
  });
});

describe('pre-tokenizers by name', () => {
  // expected words measured with the Rust tokenizers: SmolLM's Sequence[Digits(individual), ByteLevel] and GPT-2's ByteLevel
  const cases: Record<string, Record<string, string[]>> = {
    "I'm 12345 cats!!  \n\tx's": {
      smollm: ['I', "'m", ' ', '1', '2', '3', '4', '5', ' cats', '!!', '  \n', '\t', 'x', "'s"],
      gpt2: ['I', "'m", ' 12345', ' cats', '!!', '  \n', '\t', 'x', "'s"],
    },
    'Price: $3.50 (approx.)   ok': {
      smollm: ['Price', ':', ' $', '3', '.', '5', '0', ' (', 'approx', '.)', '  ', ' ok'],
      gpt2: ['Price', ':', ' $', '3', '.', '50', ' (', 'approx', '.)', '  ', ' ok'],
    },
  };

  it('cuts words as the Rust tokenizers do for smollm and gpt2', () => {
    for (const [text, expected] of Object.entries(cases)) {
      for (const [name, words] of Object.entries(expected)) expect(preTokenizer(name).split(text), `${name}: ${text}`).toEqual(words);
    }
    expect(preTokenizer('gpt-2').split("I'm")).toEqual(['I', "'m"]);
  });

  it('knows llama.cpp’s names, takes default for none, and refuses others', () => {
    expect(preTokenizerNames).toEqual(expect.arrayContaining(['llama-bpe', 'llama3', 'qwen2', 'smollm', 'gpt2', 'gpt-2', 'default']));
    expect(preTokenizer(undefined).name).toBe('default');
    expect(preTokenizer('default').split('abc 1234, x')).toEqual(['abc', ' ', '123', '4', ',', ' x']);
    expect(() => preTokenizer('tekken')).toThrow(/"tekken", a pre-tokenizer this loader does not know \(known: llama-bpe, /);
  });
});

describe('GGUF gpt2 tokenizers that cannot be used', () => {
  const tiny = (overrides: Partial<Parameters<typeof gpt2TokenizerMetadata>[0]>) => {
    const spec = { tokens: ['a', 'b', 'ab', '<|end|>'], merges: ['a b'], tokenTypes: [1, 1, 1, 3], pre: 'gpt2', eos: 3, ...overrides };
    return tinyModelGguf(4, gpt2TokenizerMetadata(spec));
  };

  it('loads a toy vocabulary and merges by rank', async () => {
    const tokenizer = (await loadGgufModel(tiny({}))).tokenizer!;
    expect(tokenizer.encode('abba', { bos: false })).toEqual([2, 1, 0]);
    expect(tokenizer.bosToken).toBe(3); // no BOS in the file: the EOS stands in, as GPT-2's <|endoftext|>
  });

  it('refuses an unknown pre-tokenizer, naming it', async () => {
    await expect(loadGgufModel(tiny({ pre: 'tekken' }))).rejects.toThrow(ModelFormatError);
    await expect(loadGgufModel(tiny({ pre: 'tekken' }))).rejects.toThrow(/tokenizer\.ggml\.pre is "tekken"/);
  });

  it('refuses special token ids outside the vocabulary', async () => {
    for (const key of ['bos', 'eos', 'eot', 'eom', 'pad'] as const) {
      await expect(loadGgufModel(tiny({ [key]: 4 }))).rejects.toThrow(/token id 4 is outside the vocabulary \[0, 4\)/);
    }
  });

  it('refuses token types that do not cover the vocabulary', async () => {
    await expect(loadGgufModel(tiny({ tokenTypes: [1, 1, 1] }))).rejects.toThrow(/token_type has 3 entries for a vocabulary of 4/);
  });
});
