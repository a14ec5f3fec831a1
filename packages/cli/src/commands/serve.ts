import { Command } from 'commander';
import type { CliIo } from '../main.js';
import { integer } from '../options.js';
import { startServer } from '../server/start.js';
import { loadModelForCli } from '../load-model.js';

/** `adakv serve`: an OpenAI-compatible completion server whose KV cache lives in one fixed pool. */
export function serveCommand(io: CliIo): Command {
  return new Command('serve')
    .description('Serve completions over HTTP (OpenAI-compatible /v1/completions, /health, /metrics) from one fixed KV pool.')
    .option('--host <host>', 'address to bind (keep 127.0.0.1 unless you mean to expose it)', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', integer(0, 65535), 8080)
    .option('--pool-blocks <n>', 'KV blocks in the shared pool: the cache memory budget', integer(1), 4096)
    .option('--block-size <tokens>', 'tokens per block', integer(1, 1024), 16)
    .option('--max-batch <n>', 'most sequences decoded together', integer(1, 256), 8)
    .option('--max-pending <n>', 'most requests running or queued; more get HTTP 429', integer(1), 64)
    .option('--body-limit <bytes>', 'largest request body', integer(1024), 65536)
    .option('--model <file>', 'a llama2.c .bin or .gguf model instead of the default stories15M')
    .option('--tokenizer <file>', 'tokenizer.bin for a llama2.c model')
    .addHelpText(
      'after',
      `
Per request, besides OpenAI's prompt / max_tokens / temperature / top_p / seed / stream:
  method (default ada-snapkv), max_cache_tokens (per KV head) or compression_ratio (e.g. 4),
  protected_window (default 16). No cache limit = no compression.

Examples:
  adakv serve --port 8080 --pool-blocks 2048
  curl -s localhost:8080/v1/completions -H 'content-type: application/json' \\
    -d '{"prompt": "Once upon a time", "max_tokens": 32, "max_cache_tokens": 48}'
  curl -s localhost:8080/metrics`,
    )
    .action(async (flags: { host: string; port: number; poolBlocks: number; blockSize: number; maxBatch: number; maxPending: number; bodyLimit: number; model?: string; tokenizer?: string }) => {
      const { model, name } = await loadModelForCli(flags, io);
      const server = await startServer({ ...flags, model, modelName: name });
      io.stdout.write(`adakv serve: ${name} on ${server.url} (pool ${flags.poolBlocks} blocks of ${flags.blockSize} tokens)\n`);
      // A first Ctrl-C / SIGTERM drains running requests; a second one quits at once.
      process.removeAllListeners('SIGINT');
      await new Promise<void>((resolve) => {
        const stop = () => {
          io.stderr.write('adakv serve: shutting down, finishing running requests (Ctrl-C again to quit now)...\n');
          process.once('SIGINT', () => process.exit(130));
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      io.stderr.write('adakv serve: stopped.\n');
    });
}
