import { type Model, type TextTokenizer, encodeChat } from '@adakv/core';
import type { ChatMessage } from './engine-protocol.js';

/** Where a model's chat prompts come from: its own Jinja template (GGUF `tokenizer.chat_template`), or core's plain one. */
export function chatTemplateKind(model: Model): 'model' | 'plain' {
  return model.chatTemplate ? 'model' : 'plain';
}

/**
 * The token ids of a chat prompt, ready for the scheduler (which adds nothing to token ids): the
 * messages rendered with the model's chat template (or `PLAIN_CHAT_TEMPLATE`, `Role: content` lines
 * then `Assistant:`) ending with the assistant's turn, encoded with its control tokens, with BOS as
 * the model asks (`encodeChat`). A prompt beyond the context is refused.
 */
export function chatPromptTokens(model: Model & { readonly tokenizer: TextTokenizer }, messages: readonly ChatMessage[]): number[] {
  return encodeChat(model, messages.map(({ role, content }) => ({ role, content })), { addGenerationPrompt: true, maxTokens: model.config.contextLength });
}
