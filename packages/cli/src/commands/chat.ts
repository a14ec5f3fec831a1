import { createInterface } from 'node:readline';
import { type BackendChoice, type ChatMessage, Generator, type KvFormat, type MethodName, encodeChat, formatChat } from '@adakv/core';
import { Command } from 'commander';
import { openBackend } from '../backend.js';
import { backendOption, kvFormatOption, methodOption, methodOptionFlags, modelFlags, threadsOption } from '../common-flags.js';
import type { CliIo } from '../io.js';
import { type ModelWithTokenizer, loadModelForCli } from '../load-model.js';
import { integer, number } from '../options.js';

interface ChatFlags {
  system?: string;
  method: MethodName;
  window: number;
  alpha: number;
  maxCacheTokens?: number;
  evictEvery: number;
  steps: number;
  temperature: number;
  topP: number;
  seed: number;
  backend: BackendChoice;
  kvFormat?: KvFormat;
  threads?: number;
  model?: string;
  tokenizer?: string;
}

const HELP = 'Type a message and press Enter. /reset starts a new conversation, /stats shows the cache, /exit (or Ctrl-D) ends.';

/** The conversation's cache: what the store holds per KV head on average against the tokens seen. */
function cacheLine(generator: Generator, tokensPerSecond: number): string {
  const { layers, kvHeads } = generator.store.geometry;
  let entries = 0;
  for (let layer = 0; layer < layers; layer++) for (let head = 0; head < kvHeads; head++) entries += generator.store.length(layer, head);
  const perHead = entries / (layers * kvHeads);
  const ratio = perHead > 0 ? generator.position / perHead : 1;
  const speed = Number.isFinite(tokensPerSecond) ? ` · ${tokensPerSecond.toFixed(1)} tok/s` : '';
  return `[${generator.position} tokens seen · cache ${perHead.toFixed(0)} entries per head (${ratio.toFixed(1)}x smaller)${speed}]`;
}

/**
 * One conversation in one KV cache: each turn forwards only what the chat template adds after what
 * the cache already holds, and decode-time eviction keeps the cache within its limit as it grows.
 */
class Conversation {
  private messages: ChatMessage[] = [];
  /** The template's text of the conversation up to the last answer (ending with its generation prompt), and that answer. */
  private read = { prompt: '', answer: '' };
  private turns = 0;

  constructor(
    private readonly model: ModelWithTokenizer,
    readonly generator: Generator,
    private readonly flags: ChatFlags,
    private readonly io: CliIo,
  ) {
    this.reset();
  }

  reset(): void {
    this.generator.reset();
    this.messages = this.flags.system ? [{ role: 'system', content: this.flags.system }] : [];
    this.read = { prompt: '', answer: '' };
  }

  /**
   * The text `next` adds after what the cache holds: what follows the last answer in it (its
   * end-of-turn marker, the new message, the generation prompt). Templates may re-space or strip an
   * answer, so it is found after the previous prompt; null when the template rewrote earlier turns.
   */
  private addedText(next: string): string | null {
    const { prompt, answer } = this.read;
    if (next.startsWith(prompt + answer)) return next.slice(prompt.length + answer.length);
    if (!next.startsWith(prompt)) return null;
    const at = next.indexOf(answer.trim(), prompt.length);
    return at < 0 ? null : next.slice(at + answer.trim().length);
  }

  async say(content: string): Promise<void> {
    const messages = [...this.messages, { role: 'user', content }];
    const text = formatChat(this.model, messages);
    const added = this.generator.position > 0 ? this.addedText(text) : null;
    let tokens: number[];
    if (added !== null) {
      tokens = this.model.tokenizer.encode(added, { special: true, bos: false, eos: false });
    } else {
      if (this.generator.position > 0) {
        this.io.stderr.write('note: the chat template rewrote earlier turns; reading the conversation again from the start.\n');
      }
      this.generator.reset();
      tokens = encodeChat(this.model, messages);
    }
    const { contextLength } = this.model.config;
    const room = contextLength - this.generator.position - tokens.length - 1;
    if (room < 1) {
      this.io.stderr.write(`The conversation has reached the model's context of ${contextLength} tokens; /reset starts a new one.\n`);
      return;
    }
    const result = await this.generator.continue(tokens, {
      steps: Math.min(this.flags.steps, room),
      temperature: this.flags.temperature,
      topP: this.flags.topP,
      seed: this.flags.seed + this.turns++,
      onToken: ({ text: piece }) => this.io.stdout.write(piece),
    });
    this.io.stdout.write('\n');
    this.messages = [...messages, { role: 'assistant', content: result.text }];
    this.read = { prompt: text, answer: result.text };
    this.io.stderr.write(`${cacheLine(this.generator, result.decodeTokensPerSecond)}\n`);
  }
}

/** `adakv chat`: an interactive conversation whose KV cache is compressed as it grows. */
export function chatCommand(io: CliIo): Command {
  const command = new Command('chat')
    .description("Chat with a model in the terminal, through its chat template; the conversation's KV cache is compressed as it grows.")
    .option('--system <text>', 'a system message before the conversation')
    .addOption(methodOption())
    .option('--max-cache-tokens <n>', 'entries per KV head the cache may hold on average (default: a quarter of the context); --method full keeps everything', integer(2))
    .option('--evict-every <n>', 'tokens between decode-time evictions', integer(1), 16)
    .option('--steps <n>', 'most tokens per answer', integer(1), 256)
    .option('--temperature <t>', '0 = greedy; higher = more random', number(0, 100), 0.7)
    .option('--top-p <p>', 'nucleus sampling threshold', number(0.01, 1), 0.9)
    .option('--seed <n>', 'sampling seed of the first answer (the next ones count up)', integer(0), 42)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(kvFormatOption('the conversation'));
  modelFlags(methodOptionFlags(command));
  return command
    .addHelpText(
      'after',
      `
${HELP}
Input that is not a terminal is read line by line, one message per line (answers on stdout, the cache
line on stderr).

Examples:
  adakv chat --model qwen2.5-0.5b-instruct-q4_k_m.gguf
  adakv chat --model model.gguf --system "You answer in one sentence." --max-cache-tokens 512
  printf 'Hello\\nTell me a story\\n' | adakv chat --temperature 0`,
    )
    .action(async (flags: ChatFlags) => {
      const { model } = await loadModelForCli(flags, io);
      const backend = await openBackend(flags.backend, io, flags);
      const { contextLength } = model.config;
      const limit = flags.maxCacheTokens ?? Math.max(flags.window + flags.evictEvery, Math.floor(contextLength / 4));
      const options = { window: flags.window, alpha: flags.alpha };
      const generator = new Generator(model, {
        backend,
        ...(flags.kvFormat ? { kvFormat: flags.kvFormat } : {}),
        ...(flags.method === 'full' ? {} : { eviction: { method: flags.method, maxTokensPerHead: limit, every: flags.evictEvery, options } }),
      });
      const conversation = new Conversation(model, generator, flags, io);
      const input = io.stdin ?? process.stdin;
      const interactive = (input as { isTTY?: boolean }).isTTY === true;
      if (interactive) {
        const cache = flags.method === 'full' ? 'full cache' : `${flags.method}, at most ${limit} entries per head`;
        io.stderr.write(`${HELP}\n(context ${contextLength} tokens; cache: ${cache})\n`);
      }
      const lines = createInterface({ input, terminal: false });
      try {
        if (interactive) io.stderr.write('> ');
        for await (const line of lines) {
          const message = line.trim();
          if (message === '/exit' || message === '/quit') break;
          if (message === '/reset') {
            conversation.reset();
            io.stderr.write('(a new conversation)\n');
          } else if (message === '/stats') {
            io.stderr.write(`${cacheLine(generator, NaN)}\n`);
          } else if (message.length > 0) {
            await conversation.say(message);
          }
          if (interactive) io.stderr.write('> ');
        }
      } finally {
        lines.close();
        generator.store.dispose();
        backend.dispose();
      }
    });
}
