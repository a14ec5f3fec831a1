import { ModelFormatError } from '../../errors.js';
import { type SpecialTokenIds, TokenType } from './types.js';

/**
 * End-of-turn tokens that stop generation whatever the file's EOS/EOT ids say, as llama.cpp's list
 * (llama-vocab.cpp): a Llama 3 file whose EOS is `<|end_of_text|>` still stops at `<|eot_id|>`. They
 * are control tokens even if the file typed them otherwise, as there.
 */
const END_OF_TURN_TEXTS = new Set([
  '<|eot_id|>',
  '<|eom_id|>',
  '<|im_end|>',
  '<|endoftext|>',
  '<|end_of_text|>',
  '<end_of_turn>',
  '<EOT>',
]);

/** A piece of text to encode, or a special token found in it. */
export type Fragment = string | number;

interface TrieNode {
  next: Map<number, TrieNode>;
  token: number;
}

/** Finds token texts inside text, leftmost and then longest first (as transformers' added-token splitter). */
class TokenMatcher {
  private readonly root: TrieNode = { next: new Map(), token: -1 };
  size = 0;

  add(text: string, token: number): void {
    let node = this.root;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      let child = node.next.get(code);
      if (!child) node.next.set(code, (child = { next: new Map(), token: -1 }));
      node = child;
    }
    if (node.token >= 0) return; // the first of two equal texts wins
    node.token = token;
    this.size++;
  }

  split(text: string, out: Fragment[]): void {
    let start = 0;
    for (let i = 0; i < text.length; ) {
      let node = this.root.next.get(text.charCodeAt(i));
      let token = -1;
      let end = i;
      for (let j = i + 1; node; j++) {
        if (node.token >= 0) [token, end] = [node.token, j];
        node = j < text.length ? node.next.get(text.charCodeAt(j)) : undefined;
      }
      if (token < 0) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(token);
      i = start = end;
    }
    if (start < text.length) out.push(text.slice(start));
  }
}

export interface SpecialTokenOptions {
  /** Beginning of sequence. */
  bos?: number;
  /** End of sequence. */
  eos?: number;
  /** End of turn. */
  eot?: number;
  /** End of message. */
  eom?: number;
  /** Padding. */
  pad?: number;
  /** The unknown token. */
  unk?: number;
}

/**
 * A vocabulary's token types and special tokens: the ids the file names (checked at load), the
 * tokens that end generation, and the splitting of text at special tokens written in it.
 */
export class SpecialTokens {
  readonly ids: SpecialTokenIds;
  private readonly types: Uint8Array;
  private readonly endOfText = new Set<number>();
  /** User-defined tokens: recognised in any text. */
  private readonly userDefined = new TokenMatcher();
  /** User-defined, control and unknown tokens: recognised with `{ special: true }`. */
  private readonly all = new TokenMatcher();

  /**
   * @param texts each token's text as it would appear in a prompt
   * @param types each token's {@link TokenType} (changed here: end-of-turn tokens become control)
   * @param defaults ids for a file that names none (SentencePiece: BOS 1, EOS 2); a missing BOS is the EOS
   */
  constructor(texts: readonly string[], types: Uint8Array, options: SpecialTokenOptions, defaults: { bos?: number; eos?: number }) {
    const size = texts.length;
    const check = (name: string, id: number | undefined): number | undefined => {
      // checked at load: a bad id would otherwise fail every request later, far from its cause
      if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= size)) {
        throw new ModelFormatError(`Tokenizer: the ${name} token id ${id} is outside the vocabulary [0, ${size}); the model file is inconsistent.`);
      }
      return id;
    };
    const eos = check('EOS', options.eos ?? defaults.eos);
    if (eos === undefined) throw new ModelFormatError('Tokenizer: the vocabulary names no EOS token (tokenizer.ggml.eos_token_id).');
    const bos = check('BOS', options.bos ?? defaults.bos ?? eos)!;
    this.ids = {
      bos,
      eos,
      eot: check('EOT', options.eot),
      eom: check('EOM', options.eom),
      pad: check('padding', options.pad),
      unk: check('unknown', options.unk),
    };
    this.types = types;
    texts.forEach((text, id) => {
      if (END_OF_TURN_TEXTS.has(text)) {
        types[id] = TokenType.control;
        this.endOfText.add(id);
      }
    });
    for (const id of [bos, eos, this.ids.eot, this.ids.eom]) if (id !== undefined) this.endOfText.add(id);
    texts.forEach((text, id) => {
      if (text.length === 0) return;
      const type = types[id];
      if (type === TokenType.userDefined) this.userDefined.add(text, id);
      if (type === TokenType.userDefined || type === TokenType.control || type === TokenType.unknown) this.all.add(text, id);
    });
  }

  type(token: number): TokenType {
    return (this.types[token] ?? TokenType.normal) as TokenType;
  }

  /** Whether merging plain text may produce `token`: normal tokens only (byte tokens are handled apart). */
  isMergeable(token: number): boolean {
    return this.types[token] === TokenType.normal;
  }

  isEndOfText(token: number): boolean {
    return this.endOfText.has(token);
  }

  /** `text` cut at the special tokens written in it (user-defined always, control and unknown with `special`). */
  split(text: string, special: boolean): Fragment[] {
    const matcher = special ? this.all : this.userDefined;
    if (matcher.size === 0 || text.length === 0) return text.length === 0 ? [] : [text];
    const out: Fragment[] = [];
    matcher.split(text, out);
    return out;
  }
}
