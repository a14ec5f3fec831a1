import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `adakv serve` as a user runs it: the bundled bin in its own process, for exit codes and stderr.

const packageDir = join(import.meta.dirname, '..');
// its own folder, so that it never races the bundle commands.test.ts makes
const bin = join(packageDir, 'node_modules', '.cache', 'adakv-serve-test-bin', 'bin.js');

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `adakv serve ...args`; `whileUp` gets the URL it prints and runs before the process is sent SIGTERM. */
function serve(args: string[], whileUp?: (url: string) => Promise<void>): Promise<Exited & { upError?: unknown }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let upError: unknown;
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /on (http:\/\/\S+) /.exec(stdout)?.[1];
      if (url && whileUp) {
        const run = whileUp;
        whileUp = undefined;
        run(url)
          .catch((error: unknown) => (upError = error))
          .finally(() => child.kill('SIGTERM'));
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ...(upError === undefined ? {} : { upError }) });
    });
  });
}

/** One line starting with `error:`, and nothing that looks like a stack trace. */
function expectOneLine(stderr: string, message: RegExp): void {
  expect(stderr).toMatch(/^error: [^\n]+\n$/);
  expect(stderr).toMatch(message);
  expect(stderr).not.toMatch(/\n\s+at /);
}

let busy: Server;
let busyPort: number;

beforeAll(async () => {
  // the bin and, next to it, the engine worker it starts
  execFileSync(
    'npx',
    ['tsup', '--entry.bin', 'src/bin.ts', '--entry.engine-worker', 'src/server/engine-worker.ts', '--no-config', '--format', 'esm', '--target', 'es2022', '--silent', '--out-dir', dirname(bin)],
    { cwd: packageDir },
  );
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
}, 60_000);

afterAll(() => {
  busy?.close();
});

describe('adakv serve, the process', () => {
  it('exits 2 with one line when the port is in use', async () => {
    const { code, stderr, stdout } = await serve(['--port', String(busyPort)]);
    expect(code).toBe(2);
    expectOneLine(stderr, new RegExp(`^error: port ${busyPort} on 127\\.0\\.0\\.1 is already in use; pick another with --port`));
    expect(stdout).toBe('');
  });

  it('exits 2 with one line for a host that is not an address of this machine', async () => {
    const { code, stderr } = await serve(['--host', '192.0.2.1', '--port', '0']);
    expect(code).toBe(2);
    expectOneLine(stderr, /^error: 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\); pick one it has with --host/);
  });

  it('exits 2 with one line for a host name that does not resolve', async () => {
    const { code, stderr } = await serve(['--host', 'no-such-host.invalid', '--port', '0']);
    expect(code).toBe(2);
    expectOneLine(stderr, /^error: host "no-such-host\.invalid" cannot be resolved \((ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)\); give an IP address/);
  });

  it('exits 2 with one line for timeouts that contradict each other or cannot be read', async () => {
    const contradicting = await serve(['--port', '0', '--request-timeout', '1s', '--headers-timeout', '2s']);
    expect(contradicting.code).toBe(2);
    expectOneLine(contradicting.stderr, /headers timeout \(2000 ms\) must not be longer than the request timeout \(1000 ms\)/);
    const unreadable = await serve(['--port', '0', '--request-timeout', 'soon']);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/expected a duration such as 30s, 500ms or 2m/);
    expect(unreadable.stderr).not.toMatch(/\n\s+at /);
  });

  it('serves with the limits and the K/V format it was given, then stops cleanly on SIGTERM (exit 0)', async () => {
    const limits = ['--request-timeout', '2s', '--max-connections', '8', '--keep-alive-timeout', '500ms', '--kv-format', 'int8'];
    const exited = await serve(['--port', '0', ...limits], async (url) => {
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      const completion = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 4 }),
      });
      expect(completion.status).toBe(200);
      expect((await fetch(`${url}/v1/completions`)).status).toBe(405);
      expect((await fetch(`${url}/ready`)).status).toBe(200);
      const chat = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
      });
      expect((await chat.json()).object).toBe('chat.completion');
    });
    expect(exited.upError).toBeUndefined();
    expect(exited.code).toBe(0);
    expect(exited.stdout).toMatch(/^adakv serve: stories15M on http:\/\/127\.0\.0\.1:\d+ \(WebAssembly .*; pool 4096 blocks of 16 tokens, K\/V in int8\)\n$/);
    expect(exited.stderr).toMatch(/adakv serve: stopped\.\n$/);
  });

  it('exits 3 with one line when the engine cannot load the model file', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'adakv-bad-model-'));
    try {
      const file = join(folder, 'broken.bin');
      writeFileSync(file, Buffer.alloc(64, 7));
      const { code, stderr, stdout } = await serve(['--port', '0', '--model', file, '--tokenizer', file]);
      expect(code).toBe(3);
      expectOneLine(stderr, /^error: llama2\.c checkpoint/);
      expect(stdout).toBe('');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('documents the limits in its help', async () => {
    const help = execFileSync(process.execPath, [bin, 'serve', '--help'], { encoding: 'utf8' });
    for (const flag of ['--request-timeout', '--headers-timeout', '--keep-alive-timeout', '--max-connections', '--max-pending', '--body-limit']) {
      expect(help).toContain(flag);
    }
    expect(help).toMatch(/default: 30s/);
    expect(help).toMatch(/default: 256/);
    expect(help).toMatch(/405 wrong method/);
  });
});
