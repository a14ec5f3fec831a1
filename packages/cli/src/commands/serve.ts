import type { BackendChoice, KvFormat } from '@adakv/core';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CliIo } from '../io.js';
import { modelFilesForCli } from '../load-model.js';
import { kvFormatOption, threadsOption } from '../common-flags.js';
import { integer } from '../options.js';
import { serverDefaults } from '../server/app.js';
import { startServer } from '../server/start.js';
import { describeListenError } from '../system-errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const MAX_TIMEOUT_MS = 2 ** 31 - 1; // what Node's timers take

/** `--request-timeout 30s` / `500ms` / `2m` / `30` (seconds) / `0` (off), in milliseconds. */
export function duration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = match ? Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!) : NaN;
  if (!Number.isFinite(ms) || ms > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`expected a duration such as 30s, 500ms or 2m (a bare number is seconds; 0 = no limit), got "${text}".`);
  }
  return ms;
}

const seconds = (ms: number) => `${ms / 1000}s`;

interface ServeFlags {
  host: string;
  port: number;
  poolBlocks: number;
  blockSize: number;
  kvFormat?: KvFormat;
  maxBatch: number;
  maxPending: number;
  bodyLimit: number;
  requestTimeout: number;
  headersTimeout?: number;
  keepAliveTimeout: number;
  maxConnections: number;
  model?: string;
  tokenizer?: string;
  backend: Exclude<BackendChoice, 'reference'>;
  threads?: number;
}

/**
 * The model file `--model` names, or the default stories15M's (downloaded once, with a progress bar,
 * and checked): the engine worker loads it from there.
 */
/** `adakv serve`: an OpenAI-compatible completion server whose KV cache lives in one fixed pool. */
export function serveCommand(io: CliIo): Command {
  return new Command('serve')
    .description(
      'Serve completions over HTTP (OpenAI-compatible /v1/completions, /v1/chat/completions, /v1/models; /health, /ready, /metrics) from one fixed KV pool; the model runs in a worker thread.',
    )
    .option('--host <host>', 'address to bind (keep 127.0.0.1 unless you mean to expose it)', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', integer(0, 65535), 8080)
    .option('--pool-blocks <n>', 'KV blocks in the shared pool: the cache memory budget', integer(1), 4096)
    .option('--block-size <tokens>', 'tokens per block', integer(1, 1024), 16)
    .option('--max-batch <n>', 'most sequences decoded together', integer(1, 256), 8)
    .addOption(
      new Option('--backend <name>', 'where the model and the pool run: wasm, webgpu (one submission per step for the whole batch), or auto (WebGPU on a hardware adapter, else wasm)')
        .choices(['wasm', 'webgpu', 'auto'])
        .default('wasm'),
    )
    .addOption(threadsOption())
    .addOption(kvFormatOption('the pool'))
    .option('--max-pending <n>', 'most sequences running or queued (n choices count n); more get HTTP 429', integer(1), serverDefaults.maxPending)
    .option('--body-limit <bytes>', 'largest request body; larger get HTTP 413', integer(1024), serverDefaults.bodyLimit)
    .addOption(
      new Option(
        '--request-timeout <duration>',
        'time a client has to send its whole request, headers and body; a slower one gets HTTP 408 and is disconnected. ' +
          'Generating and streaming the answer is not limited by it (0 = no limit)',
      )
        .argParser(duration)
        .default(serverDefaults.requestTimeout, seconds(serverDefaults.requestTimeout)),
    )
    .option(
      '--headers-timeout <duration>',
      `time a client has to send the request headers, at most --request-timeout (default: ${seconds(serverDefaults.headersTimeout)}, or --request-timeout if shorter; 0 = no limit)`,
      duration,
    )
    .addOption(
      new Option('--keep-alive-timeout <duration>', 'how long an idle keep-alive connection stays open after a response')
        .argParser(duration)
        .default(serverDefaults.keepAliveTimeout, seconds(serverDefaults.keepAliveTimeout)),
    )
    .option(
      '--max-connections <n>',
      'most TCP connections open at once; more are closed as soon as they arrive (0 = no limit)',
      integer(0),
      serverDefaults.maxConnections,
    )
    .option('--model <file>', 'a llama2.c .bin or .gguf model instead of the default stories15M')
    .option('--tokenizer <file>', 'tokenizer.bin for a llama2.c model')
    .addHelpText(
      'after',
      `
Routes: POST /v1/completions, POST /v1/chat/completions (JSON or server-sent events), GET /v1/models,
GET /health, GET /ready (200 when loaded and not draining), GET /metrics (Prometheus).
OpenAI fields: prompt (text, list, token ids) or messages, max_tokens / max_completion_tokens,
temperature, top_p, seed, n, stream, stream_options.include_usage, stop, logprobs / top_logprobs,
frequency_penalty, presence_penalty, logit_bias. adakv's, per request:
  method (default ada-snapkv), max_cache_tokens (per KV head) or compression_ratio (e.g. 4),
  protected_window (default 16). No cache limit = no compression.
The model runs in a worker thread: /health and /metrics answer while it computes.

Errors are OpenAI-style JSON ({"error": {"message", "type", "param", "code"}}): 400 malformed,
invalid, unsupported or not JSON, 404 unknown route, 405 wrong method, 408 request not received
within --request-timeout, 413 body over --body-limit, 429 more than --max-pending, 500 the request
failed while running, 503 loading or shutting down, 507 the pool cannot hold the request even alone.

Examples:
  adakv serve --port 8080 --pool-blocks 2048
  adakv serve --host 0.0.0.0 --request-timeout 10s --max-connections 64
  curl -s localhost:8080/v1/completions -H 'content-type: application/json' \\
    -d '{"prompt": "Once upon a time", "max_tokens": 32, "max_cache_tokens": 48}'
  curl -s localhost:8080/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 32, "compression_ratio": 4}'
  curl -s localhost:8080/metrics`,
    )
    .action(async (flags: ServeFlags) => {
      const { modelPath, tokenizerPath, name } = await modelFilesForCli(flags, io);
      const file = { path: modelPath, ...(tokenizerPath ? { tokenizerPath } : {}) };
      // (without --headers-timeout, the server takes 10 s or --request-timeout if shorter)
      const server = await startServer({ ...flags, model: file, modelName: name }).catch((error: unknown) => {
        throw describeListenError(error, flags.host, flags.port) ?? error;
      });
      if (server.info.notice) io.stderr.write(`${server.info.notice}\n`);
      const format = flags.kvFormat ? `, K/V in ${flags.kvFormat}` : '';
      io.stdout.write(`adakv serve: ${name} on ${server.url} (${server.info.backend}; pool ${flags.poolBlocks} blocks of ${flags.blockSize} tokens${format})\n`);
      // A first Ctrl-C / SIGTERM drains running requests; a second one quits at once.
      process.removeAllListeners('SIGINT');
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          io.stderr.write('adakv serve: shutting down, finishing running requests (Ctrl-C again to quit now)...\n');
          process.once('SIGINT', () => process.exit(130));
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // the engine thread died (a bug): stop serving and report it
        void server.crashed.then((error) => {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
          void server.close(0).finally(() => reject(error));
        });
      });
      io.stderr.write('adakv serve: stopped.\n');
    });
}
