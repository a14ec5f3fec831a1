import { Template } from '@huggingface/jinja';
import { ModelFormatError, OptionError } from '../errors.js';
import type { Model } from './model.js';
import { refuseOverLongTokens } from './tokenizers/limits.js';
import type { TextTokenizer } from './tokenizers/types.js';

/** One turn of a conversation. Templates may read more fields (`tool_calls`, `name`), passed through as given. */
export interface ChatMessage {
  /** Who speaks: `system`, `user`, `assistant` (or any role the template knows). */
  readonly role: string;
  /** What they say. */
  readonly content: string;
  readonly [field: string]: unknown;
}

/** How {@link formatChat} and {@link encodeChat} render a conversation. */
export interface ChatOptions {
  /** End with the opening of an assistant turn, for the model to answer (default true). */
  addGenerationPrompt?: boolean;
  /** A Jinja chat template to use instead of the model's own. */
  template?: string;
  /** More template variables (`tools`, `documents`, `date_string`, ...); they override the defaults. */
  variables?: Readonly<Record<string, unknown>>;
}

/**
 * The template for models that carry none: one line per message, `Role: content`, then `Assistant:`
 * when a generation prompt is asked for. No BOS text: `encodeChat` adds BOS as the model asks.
 */
export const PLAIN_CHAT_TEMPLATE =
  "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}" +
  '{% if add_generation_prompt %}Assistant:{% endif %}';

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let template = compiled.get(source);
  if (!template) {
    try {
      template = new Template(source);
    } catch (error) {
      throw new ModelFormatError(`The chat template cannot be parsed: ${(error as Error).message}`, { cause: error });
    }
    compiled.set(source, template);
  }
  return template;
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages) || messages.length === 0) throw new OptionError('A chat needs at least one message.');
  messages.forEach((message, i) => {
    if (typeof message?.role !== 'string' || message.role.length === 0 || typeof message.content !== 'string') {
      throw new OptionError(`Message ${i} needs a role and a content, both strings.`);
    }
  });
}

/** The variables transformers passes to a chat template: the special tokens' texts among them. */
function specialTokenTexts(tokenizer: TextTokenizer | undefined): Record<string, string> {
  if (!tokenizer) return {};
  const { bos, eos, pad, unk } = tokenizer.specialTokens;
  const texts: Record<string, string> = { bos_token: tokenizer.tokenText(bos), eos_token: tokenizer.tokenText(eos) };
  if (pad !== undefined) texts.pad_token = tokenizer.tokenText(pad);
  if (unk !== undefined) texts.unk_token = tokenizer.tokenText(unk);
  return texts;
}

/**
 * A conversation as the prompt text its model was trained on: the model's Jinja chat template (GGUF
 * `tokenizer.chat_template`), or `options.template`, or {@link PLAIN_CHAT_TEMPLATE}, rendered with
 * `@huggingface/jinja` and the variables transformers gives (`messages`, `add_generation_prompt`,
 * `bos_token`, `eos_token`, `pad_token`/`unk_token` when the vocabulary has them, `tools` and `documents`
 * as null; `raise_exception` and `strftime_now` are built in). Control tokens appear as text: encode the
 * result with `{ special: true }`, or use {@link encodeChat}.
 */
export function formatChat(
  model: Pick<Model, 'tokenizer' | 'chatTemplate'>,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): string {
  checkMessages(messages);
  const template = compile(options.template ?? model.chatTemplate ?? PLAIN_CHAT_TEMPLATE);
  try {
    return template.render({
      messages: messages as unknown as Record<string, unknown>[],
      add_generation_prompt: options.addGenerationPrompt ?? true,
      tools: null,
      documents: null,
      ...specialTokenTexts(model.tokenizer),
      ...options.variables,
    });
  } catch (error) {
    throw new OptionError(`The chat template refused these messages: ${(error as Error).message}`);
  }
}

/**
 * The token ids of a conversation's prompt: {@link formatChat}, then `encode(text, { special: true })`.
 * BOS: the template's own BOS text counts; one more is put in front only when the vocabulary adds BOS
 * (`add_bos_token`) and the prompt does not already begin with it — never two, as llama.cpp (which
 * drops a leading BOS text before adding its own) and transformers (a template that writes BOS is
 * tokenized without adding one) both end up.
 */
export function encodeChat(
  model: Pick<Model, 'tokenizer' | 'chatTemplate'>,
  messages: readonly ChatMessage[],
  options: ChatOptions & { maxTokens?: number } = {},
): number[] {
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw new OptionError('This model was loaded without a tokenizer; a chat needs one.');
  const text = formatChat(model, messages, options);
  const tokens = tokenizer.encode(text, { special: true, bos: false, eos: false, maxTokens: options.maxTokens });
  if (tokenizer.addBos && tokens[0] !== tokenizer.bosToken) tokens.unshift(tokenizer.bosToken);
  refuseOverLongTokens(text, tokens, options.maxTokens);
  return tokens;
}
