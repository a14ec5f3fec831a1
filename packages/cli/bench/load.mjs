// A bounded load test of `adakv serve`: starts the built server (dist/bin.js) on a free port, sends
// a few hundred completions from a pool of concurrent clients, and checks every answer.
//
//   node bench/load.mjs [--requests 300] [--concurrency 16] [--pool-blocks 2048] [--max-batch 8]
//
// The mix: every tenth request is malformed (bad JSON, unknown field, wrong types, not JSON, ...) and
// must get a 400 in the OpenAI error shape; the others use every compression setting (none,
// max_cache_tokens, compression_ratio, each method) and must get a 200 with a whole answer. One valid
// request in six is a chat (/v1/chat/completions), one in eight asks for n: 2, one in nine has a stop
// string. A quarter of the valid ones stream, and a third of those hang up after the first event.
// Meanwhile /health is probed every 250 ms and /metrics scraped every second: both must answer
// while the model computes (the engine runs in a worker thread). At the end, once the server is
// idle, no KV block may be left in use. Exits 1 on any unexpected answer or a leaked block.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    'pool-blocks': { type: 'string', default: '2048' },
    'max-batch': { type: 'string', default: '8' },
  },
});
const total = Number(flags.requests);
const concurrency = Number(flags.concurrency);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');

const PROMPTS = [
  'Once upon a time',
  'Tom had a red ball.',
  'The cat sat on the mat and',
  'Lily went to the park with her mom. She saw a big tree and a little bird. The bird was sad because',
  'One day, a little boy named Tim found a shiny rock in the garden. He wanted to show it to his friend Sue, so he ran to her house. When he got there,',
  'The sun was hot.',
  'Ben and Mia liked to play in the sand. They made a big castle with a tall tower. Then a wave came and',
];
const CACHES = [
  {},
  { max_cache_tokens: 32, protected_window: 8 },
  { max_cache_tokens: 48 },
  { compression_ratio: 2, protected_window: 8 },
  { compression_ratio: 4, protected_window: 4 },
  { method: 'snapkv', max_cache_tokens: 40, protected_window: 8 },
  { method: 'pyramidkv', compression_ratio: 2, protected_window: 8 },
  { method: 'ada-pyramidkv', compression_ratio: 3, protected_window: 8 },
  { method: 'streamingllm', max_cache_tokens: 32, protected_window: 8 },
  { method: 'h2o', compression_ratio: 2, protected_window: 8 },
  { method: 'full' },
];
// [label, raw body, content type]
const MALFORMED = [
  ['bad JSON', '{"prompt": "Once upon a time", "max_tokens": 4,', 'application/json'],
  ['unknown field', JSON.stringify({ prompt: 'Once', max_tokens: 4, frobnicate: true }), 'application/json'],
  ['max_tokens a string', JSON.stringify({ prompt: 'Once', max_tokens: '4' }), 'application/json'],
  ['prompt a number', JSON.stringify({ prompt: 42 }), 'application/json'],
  ['no prompt', JSON.stringify({ max_tokens: 4 }), 'application/json'],
  ['unknown method', JSON.stringify({ prompt: 'Once', method: 'nope' }), 'application/json'],
  ['both cache limits', JSON.stringify({ prompt: 'Once', max_cache_tokens: 48, compression_ratio: 2 }), 'application/json'],
  ['not JSON', 'prompt=Once', 'application/x-www-form-urlencoded'],
  ['beyond the context', JSON.stringify({ prompt: 'Once', max_tokens: 5000 }), 'application/json'],
  ['empty body', '', 'application/json'],
];

/** Request `i` of the run: what to send and what must come back. */
function plan(i) {
  if (i % 10 === 9) {
    const [label, body, contentType] = MALFORMED[Math.floor(i / 10) % MALFORMED.length];
    return { kind: 'malformed', path: '/v1/completions', label, body, contentType, expect: 400 };
  }
  const stream = i % 4 === 1;
  const hangUp = stream && i % 3 === 0;
  const chat = i % 6 === 2;
  const prompt = PROMPTS[i % PROMPTS.length];
  const body = {
    ...(chat ? { messages: [{ role: 'user', content: prompt }] } : { prompt }),
    max_tokens: 4 + (i % 13),
    ...CACHES[i % CACHES.length],
    ...(i % 5 === 0 ? { temperature: 0.8, top_p: 0.9, seed: i } : {}),
    ...(i % 8 === 3 ? { n: 2 } : {}),
    ...(i % 9 === 4 ? { stop: ['.', '!'] } : {}),
    ...(stream ? { stream: true } : {}),
    ...(hangUp ? { max_tokens: 64 } : {}),
  };
  return {
    kind: hangUp ? 'hang-up' : stream ? 'stream' : 'json',
    path: chat ? '/v1/chat/completions' : '/v1/completions',
    label: JSON.stringify(body),
    body: JSON.stringify(body),
    contentType: 'application/json',
    expect: 200,
  };
}

/** Starts `adakv serve --port 0` and resolves with its URL and the child process. */
function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--pool-blocks', flags['pool-blocks'], '--max-batch', flags['max-batch']], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const url = /on (http:\/\/\S+) /.exec(out)?.[1];
      if (url) resolve({ child, url, stderr: () => err });
    });
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('exit', (code) => reject(new Error(`adakv serve exited (${code}) before listening:\n${err}`)));
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

/** Sends one planned request; resolves with what happened (never rejects). */
function send(url, item) {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (outcome) => resolve({ ...outcome, item, ms: performance.now() - started });
    const req = request(`${url}${item.path}`, { method: 'POST', agent, headers: { 'content-type': item.contentType } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
        if (item.kind === 'hang-up' && text.includes('\n\n')) {
          req.destroy(); // hang up after the first event
          done({ status: res.statusCode, hungUp: true });
        }
      });
      res.on('end', () => done({ status: res.statusCode, text, contentType: String(res.headers['content-type']) }));
      res.on('error', () => undefined);
    });
    req.on('error', (error) => done({ status: 0, error: error.message }));
    req.end(item.body);
  });
}

/** Why an outcome is wrong, or null when it is what the plan said. */
function problem(outcome) {
  const { item, status, text, error, hungUp } = outcome;
  if (error && !hungUp) return `network error ${error}`;
  if (status !== item.expect) return `status ${status}, expected ${item.expect}: ${text?.slice(0, 200)}`;
  if (hungUp) return null;
  if (item.expect === 400) {
    const body = JSON.parse(text);
    const keys = Object.keys(body.error ?? {}).sort().join(',');
    return keys === 'code,message,param,type' && body.error.type === 'invalid_request_error' ? null : `not an OpenAI error: ${text}`;
  }
  const sent = JSON.parse(item.body);
  const n = sent.n ?? 1;
  if (item.kind === 'stream') {
    const events = text.split('\n\n').filter(Boolean);
    if (events.at(-1) !== 'data: [DONE]') return `stream did not end with [DONE]: ${text.slice(-200)}`;
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    if (chunks.some((c) => c.error)) return `stream error event: ${text.slice(-300)}`;
    const finished = new Set(chunks.flatMap((c) => c.choices.filter((choice) => choice.finish_reason).map((choice) => choice.index)));
    if (finished.size !== n) return `stream finished ${finished.size} of ${n} choices`;
    if (sent.messages && chunks[0].choices[0].delta.role !== 'assistant') return 'chat stream without the role first';
    return null;
  }
  const body = JSON.parse(text);
  if (body.choices.length !== n) return `${body.choices.length} choices of ${n}`;
  if (body.choices.some((c) => typeof (sent.messages ? c.message.content : c.text) !== 'string')) return 'a choice without text';
  const lengths = body.choices.filter((c) => c.finish_reason === 'length').length;
  // every choice that ran to its length has max_tokens tokens; the others stopped early
  return body.choices.every((c) => c.finish_reason === 'length') ? (body.usage.completion_tokens === n * sent.max_tokens ? null : `${body.usage.completion_tokens} tokens of ${n} x ${sent.max_tokens}`) : lengths <= n ? null : 'bad finish reasons';
}

const percentile = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
const get = (url, path) =>
  new Promise((resolve, reject) => {
    request(`${url}${path}`, { agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    })
      .on('error', reject)
      .end();
  });

const { child, url, stderr } = await startServer();
console.log(`adakv serve at ${url}: ${total} requests, ${concurrency} concurrent clients, pool ${flags['pool-blocks']} blocks, max batch ${flags['max-batch']}`);

// /health while the load runs: the server must stay responsive between decode steps
const healthMs = [];
let loadDone = false;
const prober = (async () => {
  while (!loadDone) {
    const t0 = performance.now();
    const health = await get(url, '/health');
    if (health.status === 200) healthMs.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
})();

// /metrics while the load runs: scraping never waits for a step either
const metricsMs = [];
const scraper = (async () => {
  while (!loadDone) {
    const t0 = performance.now();
    const scrape = await get(url, '/metrics');
    if (scrape.status === 200) metricsMs.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
})();

const outcomes = [];
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) outcomes.push(await send(url, plan(next++)));
  }),
);
const seconds = (performance.now() - started) / 1000;
loadDone = true;
await prober;
await scraper;

// idle: every request answered or cancelled; the hung-up ones are dropped at the next step
let health;
for (let i = 0; i < 200; i++) {
  health = JSON.parse((await get(url, '/health')).text);
  if (health.running === 0 && health.queued === 0 && health.pool.usedBlocks === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const metrics = (await get(url, '/metrics')).text;
const usedBlocks = Number(/adakv_pool_blocks\{state="used"\} (\d+)/.exec(metrics)?.[1]);

child.kill('SIGTERM');
const exitCode = await new Promise((resolve) => child.on('exit', resolve));

const problems = outcomes.map((o) => [o, problem(o)]).filter(([, p]) => p !== null);
const statusCounts = {};
for (const o of outcomes) statusCounts[o.status] = (statusCounts[o.status] ?? 0) + 1;
const kinds = {};
for (const o of outcomes) kinds[o.item.kind] = (kinds[o.item.kind] ?? 0) + 1;
const latency = (filter) => {
  const sorted = outcomes.filter(filter).map((o) => o.ms).sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms (${sorted.length})`;
};
const sortedHealth = healthMs.sort((a, b) => a - b);
const counter = (name) => /\d+$/.exec(metrics.split('\n').find((l) => l.startsWith(name)) ?? '')?.[0];

console.log(`${outcomes.length} requests in ${seconds.toFixed(1)} s: ${(outcomes.length / seconds).toFixed(2)} requests/s`);
console.log(`by kind: ${JSON.stringify(kinds)}`);
console.log(`by status: ${JSON.stringify(statusCounts)} (the hang-ups count as the 200 they got before hanging up)`);
console.log(`latency, completed 200s: ${latency((o) => o.status === 200 && !o.hungUp)}`);
console.log(`latency, 400s: ${latency((o) => o.status === 400)}`);
console.log(`/health during the load: p50 ${percentile(sortedHealth, 50).toFixed(0)} ms, max ${sortedHealth.at(-1)?.toFixed(0)} ms (${sortedHealth.length} probes)`);
const sortedMetrics = metricsMs.sort((a, b) => a - b);
console.log(`/metrics during the load: p50 ${percentile(sortedMetrics, 50).toFixed(0)} ms, max ${sortedMetrics.at(-1)?.toFixed(0)} ms (${sortedMetrics.length} scrapes)`);
const histogram = (name) => {
  // summed over label sets (endpoint, stream)
  const line = (suffix) =>
    metrics
      .split('\n')
      .filter((l) => l.startsWith(`${name}_${suffix}`))
      .reduce((sum, l) => sum + Number(/\S+$/.exec(l)[0]), 0);
  const count = line('count');
  return count > 0 ? `mean ${((line('sum') / count) * 1000).toFixed(0)} ms over ${count}` : 'none';
};
console.log(`server histograms: time to first token ${histogram('adakv_time_to_first_token_seconds')}, request ${histogram('adakv_request_duration_seconds')}, queue ${histogram('adakv_queue_seconds')}, step ${histogram('adakv_step_duration_seconds')}`);
console.log(
  `server counters: completed ${counter('adakv_requests_total{outcome="completed"}')}, cancelled ${counter('adakv_requests_total{outcome="cancelled"}')}, ` +
    `failed ${counter('adakv_requests_total{outcome="failed"}')}, rejected ${counter('adakv_requests_total{outcome="rejected"}')}, ` +
    `generated tokens ${counter('adakv_generated_tokens_total')}, evicted tokens ${counter('adakv_evicted_tokens_total')}, preemptions ${counter('adakv_preemptions_total')}`,
);
console.log(`pool blocks in use after idle: ${usedBlocks} (/health: ${health.pool.usedBlocks}); server exit code ${exitCode}`);
for (const [o, p] of problems.slice(0, 20)) console.log(`UNEXPECTED #${outcomes.indexOf(o)} ${o.item.kind} ${o.item.label}: ${p}`);
console.log(`unexpected answers: ${problems.length}`);

if (problems.length > 0 || usedBlocks !== 0 || health.pool.usedBlocks !== 0 || exitCode !== 0) {
  if (exitCode !== 0) console.log(stderr());
  process.exit(1);
}
