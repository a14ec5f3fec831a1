import { describe, expect, it } from 'vitest';
import { type ChatMessage, ContextOverflowError, ModelFormatError, OptionError, PLAIN_CHAT_TEMPLATE, encodeChat, formatChat } from '../../src/index.js';
import { type Peer, type RealVocabulary, ggufModelOf, llama3Vocabulary, peerOf, qwen25Vocabulary } from './hf-vocab.js';
import { stories15m } from './stories15m.js';

const CONVERSATIONS: ReadonlyArray<readonly ChatMessage[]> = [
  [{ role: 'user', content: 'Hello! How are you?' }],
  [
    { role: 'system', content: 'You are a terse assistant. Answer in one line.' },
    { role: 'user', content: "What's 2 + 2?" },
    { role: 'assistant', content: '4.' },
    { role: 'user', content: '  And in Japanese? 日本語で。 <|eot_id|> <|im_end|> 😀  ' },
  ],
  [
    { role: 'user', content: 'Write a haiku\nabout the sea.' },
    { role: 'assistant', content: 'Waves fold into foam\nsalt wind carries gull voices\nthe tide keeps its time' },
    { role: 'user', content: 'Another.' },
  ],
];

const vocabularies: Array<{ name: string; load: () => RealVocabulary }> = [
  { name: 'Llama 3', load: llama3Vocabulary },
  { name: 'Qwen 2.5', load: qwen25Vocabulary },
];

for (const { name, load } of vocabularies) {
  describe(`${name}'s chat template, from a GGUF file`, { timeout: 120_000 }, () => {
    const setup = async () => {
      const vocabulary = load();
      return { model: await ggufModelOf(vocabulary), peer: peerOf(vocabulary) as Peer };
    };

    it('renders the same prompt as transformers.js’s apply_chat_template, and the same tokens', async () => {
      const { model, peer } = await setup();
      for (const messages of CONVERSATIONS) {
        for (const addGenerationPrompt of [true, false]) {
          const reference = peer.apply_chat_template(messages as never, { tokenize: false, add_generation_prompt: addGenerationPrompt }) as string;
          expect(formatChat(model, messages, { addGenerationPrompt })).toBe(reference);
          const tokens = peer.apply_chat_template(messages as never, { tokenize: true, return_tensor: false, add_generation_prompt: addGenerationPrompt });
          expect(encodeChat(model, messages, { addGenerationPrompt })).toEqual(tokens);
        }
      }
    });

    it('puts exactly one BOS in front when the model adds BOS, none otherwise', async () => {
      const { model } = await setup();
      const tokens = encodeChat(model, CONVERSATIONS[0]!);
      const tokenizer = model.tokenizer!;
      if (tokenizer.addBos) {
        expect(tokens[0]).toBe(tokenizer.bosToken);
        expect(tokens[1]).not.toBe(tokenizer.bosToken);
        // a template that writes no BOS text still gets the model's BOS
        const plain = encodeChat({ tokenizer }, CONVERSATIONS[0]!);
        expect(plain).toEqual([tokenizer.bosToken, ...tokenizer.encode('User: Hello! How are you?\nAssistant:', { bos: false })]);
      } else {
        expect(tokens).not.toContain(tokenizer.bosToken);
      }
      expect(tokenizer.decode(tokens, { special: true })).toBe(formatChat(model, CONVERSATIONS[0]!).replace(/^<\|begin_of_text\|>/, tokenizer.addBos ? '<|begin_of_text|>' : ''));
    });

    it('refuses a prompt past maxTokens', async () => {
      const { model } = await setup();
      const count = encodeChat(model, CONVERSATIONS[1]!).length;
      expect(encodeChat(model, CONVERSATIONS[1]!, { maxTokens: count })).toHaveLength(count);
      expect(() => encodeChat(model, CONVERSATIONS[1]!, { maxTokens: count - 1 })).toThrow(ContextOverflowError);
    });
  });
}

describe('chat without a template, and bad input', { timeout: 60_000 }, () => {
  it('uses the documented plain template for a model without one', () => {
    const model = stories15m();
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Tell me a story.' },
    ];
    expect(model.chatTemplate).toBeUndefined();
    expect(formatChat(model, messages)).toBe('System: Be kind.\nUser: Tell me a story.\nAssistant:');
    expect(formatChat(model, messages, { addGenerationPrompt: false })).toBe('System: Be kind.\nUser: Tell me a story.\n');
    expect(formatChat(model, messages, { template: PLAIN_CHAT_TEMPLATE })).toBe(formatChat(model, messages));
    expect(encodeChat(model, messages)).toEqual(model.tokenizer.encode('System: Be kind.\nUser: Tell me a story.\nAssistant:'));
  });

  it('passes the special tokens and extra variables to the template, and raise_exception as an OptionError', () => {
    const model = stories15m();
    const template = "{{ bos_token }}{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ who }}";
    expect(formatChat(model, [{ role: 'user', content: 'x' }], { template, variables: { who: 'me' } })).toBe('\n<s>\nme');
    expect(() => formatChat(model, [{ role: 'system', content: 'x' }], { template })).toThrow(OptionError);
    expect(() => formatChat(model, [{ role: 'system', content: 'x' }], { template })).toThrow(/first must be user/);
  });

  it('refuses empty chats, malformed messages and templates that do not parse', () => {
    const model = stories15m();
    expect(() => formatChat(model, [])).toThrow(OptionError);
    expect(() => formatChat(model, [{ role: 'user' } as never])).toThrow(/Message 0 needs a role and a content/);
    expect(() => formatChat(model, [{ role: 'user', content: 'x' }], { template: '{% for %}' })).toThrow(ModelFormatError);
    expect(() => encodeChat({ tokenizer: undefined }, [{ role: 'user', content: 'x' }])).toThrow(/without a tokenizer/);
  });
});
