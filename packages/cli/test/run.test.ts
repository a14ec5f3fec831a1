import { DEMO_PROMPT, Generator, WasmBackend, cacheGeometry, compress, isSoftwareAdapter, requestGpu } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/main.js';
import { captureIo } from './capture.js';

describe('adakv run', () => {
  it('refuses a corrupt model file with exit code 3 and no stack trace', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const folder = await mkdtemp(join(tmpdir(), 'adakv-bad-'));
    await writeFile(join(folder, 'model.bin'), new Uint8Array(100).fill(7));
    const io = captureIo();
    expect(await runCli(['run', 'x', '--model', join(folder, 'model.bin')], io)).toBe(3);
    expect(io.err()).toMatch(/^error: /);
    expect(io.err()).not.toMatch(/    at /);
  });

  it('asks for --tokenizer when a llama2.c checkpoint comes without one, before printing anything', async () => {
    const { copyFile, mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { ensureDefaultModel } = await import('@adakv/core/node');
    const folder = await mkdtemp(join(tmpdir(), 'adakv-alone-'));
    try {
      await copyFile((await ensureDefaultModel()).modelPath, join(folder, 'stories.bin'));
      for (const command of ['run', 'inspect', 'eval']) {
        const io = captureIo();
        expect(await runCli([command, '--model', join(folder, 'stories.bin')], io)).toBe(2);
        expect(io.err()).toMatch(/stories\.bin has no tokenizer: pass --tokenizer FILE/);
        expect(io.out()).toBe('');
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('runs a GGUF file given with --model, with the tokens of the llama2.c checkpoint it was written from', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    // core's test-only writer (typed against core's sources, hence the cast from the built types):
    // the same weights as f32 GGUF tensors, the tokenizer as GGUF metadata
    const { GGUFValueType, modelToGguf } = await import('../../core/test/model/gguf-writer.js');
    const folder = await mkdtemp(join(tmpdir(), 'adakv-gguf-'));
    try {
      await writeFile(join(folder, 'stories15M.gguf'), modelToGguf((await loadDefaultModel()) as unknown as Parameters<typeof modelToGguf>[0], 'f32'));
      const outputs = [];
      for (const model of [[], ['--model', join(folder, 'stories15M.gguf')]]) {
        const io = captureIo();
        expect(await runCli(['run', 'Once upon a time', '--steps', '6', '--json', '--no-compare', ...model], io)).toBe(0);
        outputs.push(JSON.parse(io.out()).tokens);
      }
      expect(outputs[1]).toEqual(outputs[0]);
      const both = captureIo();
      expect(await runCli(['run', 'x', '--model', join(folder, 'stories15M.gguf'), '--tokenizer', 'tokenizer.bin'], both)).toBe(2);
      expect(both.err()).toMatch(/GGUF files carry their own tokenizer/);
      // a GGUF whose special token ids fall outside its vocabulary is refused at load: a bad model, exit 3
      const badBos = { 'tokenizer.ggml.bos_token_id': { value: 40000, type: GGUFValueType.UINT32 } };
      await writeFile(join(folder, 'bad-bos.gguf'), modelToGguf((await loadDefaultModel()) as unknown as Parameters<typeof modelToGguf>[0], 'q8_0', badBos as never));
      const bad = captureIo();
      expect(await runCli(['run', 'x', '--model', join(folder, 'bad-bos.gguf')], bad)).toBe(3);
      expect(bad.err()).toMatch(/^error: Tokenizer: the BOS token id 40000 is outside the vocabulary \[0, 32000\)/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('gives the greedy tokens of the generator, with the full cache', async () => {
    const io = captureIo();
    expect(await runCli(['run', 'Once upon a time', '--steps', '8', '--method', 'full', '--json', '--no-compare'], io)).toBe(0);
    const report = JSON.parse(io.out());
    const expected = await new Generator(await loadDefaultModel()).generate('Once upon a time', { steps: 8 });
    expect(report.tokens).toEqual(expected.tokens);
    expect(report.text).toBe(expected.text);
  });

  it('compresses exactly as the core pipeline does, and reports agreement with the full cache', async () => {
    const io = captureIo();
    expect(await runCli(['run', '--steps', '12', '--method', 'snapkv', '--budget', '24', '--window', '8', '--json'], io)).toBe(0);
    const report = JSON.parse(io.out());
    const model = await loadDefaultModel();
    const geometry = cacheGeometry(model.config);
    const backend = await WasmBackend.create();
    const compressed = await new Generator(model, {
      backend,
      afterPrefill: ({ store, observations }) => compress(store, observations, { method: 'snapkv', budget: 24, options: { window: 8, alpha: 0.2 } }),
    }).generate(DEMO_PROMPT, { steps: 12 });
    backend.dispose();
    const full = await new Generator(model).generate(DEMO_PROMPT, { steps: 12 });
    expect(report.tokens).toEqual(compressed.tokens);
    expect(report.full.tokens).toEqual(full.tokens);
    expect(report.keptAfterPrefill.kept).toBe(24 * geometry.layers * geometry.kvHeads);
    const firstDifference = full.tokens.findIndex((token, i) => token !== compressed.tokens[i]);
    expect(report.agreement.firstDifference).toBe(firstDifference === -1 ? null : firstDifference);
    expect(report.kvBytes).toBeLessThan(report.full.kvBytes);
    expect(report.prefillTokensPerSecond).toBeGreaterThan(0);
  });

  it('compresses the default story prompt and compares with the full cache', async () => {
    const io = captureIo();
    expect(await runCli(['run', '--steps', '6', '--budget', '32', '--backend', 'reference'], io)).toBe(0);
    const out = io.out();
    expect(out).toMatch(/^Once upon a time, in a small house/);
    expect(out).toMatch(/ada-snapkv\s+[\d.]+ KiB\s+(\d+) \/ (\d+)/);
    const [, kept, of] = /ada-snapkv\s+\S+ \S+\s+(\d+) \/ (\d+)/.exec(out)!;
    expect(Number(kept)).toBeLessThan(Number(of));
    expect(out).toMatch(/ada-snapkv .* first \d+ of 6\s+\d+\s+[\d.]+\n/);
    expect(out).toMatch(/full cache/);
  });

  it('runs on the WebGPU backend (Dawn over SwiftShader here) with the same greedy tokens as wasm', async () => {
    const outputs = [];
    const screens = [];
    for (const backend of ['webgpu', 'wasm']) {
      const io = captureIo();
      expect(await runCli(['run', '--steps', '10', '--backend', backend, '--json', '--no-compare'], io)).toBe(0);
      outputs.push(JSON.parse(io.out()).tokens);
      screens.push(JSON.parse(io.out()).classifierScreenBytes);
    }
    // the wasm engine reads stories15M's f32 classifier through its q8_0 screen (34 bytes per 32 weights, 12 per row)
    expect(screens).toEqual([0, (32000 * 288 * 34) / 32 + 32000 * 12]);
    expect(outputs[0]).toHaveLength(10);
    expect(outputs[0]).toEqual(outputs[1]);
  });

  it('auto takes a hardware GPU, but skips a software one (SwiftShader in CI) for wasm, with a notice', async () => {
    const gpu = await requestGpu();
    const software = isSoftwareAdapter(gpu);
    gpu.device.destroy();
    const io = captureIo();
    expect(await runCli(['run', '--steps', '4', '--backend', 'auto', '--json'], io)).toBe(0);
    const report = JSON.parse(io.out());
    expect(report.tokens).toHaveLength(4);
    if (software) expect(io.err()).toMatch(/^backend auto: WebGPU here is a software renderer \(.*\), slower than wasm; using wasm/);
    else expect(io.err()).toBe('');
  });

  it('refuses a 17 KB prompt from its length, at once, with exit code 3', async () => {
    const io = captureIo();
    const started = performance.now();
    expect(await runCli(['run', 'Once upon a time there was a dog. '.repeat(500), '--no-compare'], io)).toBe(3);
    expect(io.err()).toMatch(/^error: The text \(17000 characters\) needs at least \d+ tokens, more than the limit of 256/);
    expect(performance.now() - started).toBeLessThan(5000); // the model loads; the text is never encoded
  });

  it('takes seed 0 like any other seed and refuses seeds out of range as a usage error', async () => {
    const zero = captureIo();
    expect(await runCli(['run', 'Once upon a time', '--steps', '4', '--temperature', '0.8', '--seed', '0', '--json', '--no-compare'], zero)).toBe(0);
    expect(JSON.parse(zero.out()).tokens).toHaveLength(4);
    for (const seed of ['-1', '1.5', '1e300']) {
      const io = captureIo();
      expect(await runCli(['run', 'x', '--seed', seed], io)).toBe(2);
    }
  });

  it('says why a prompt within the window is not compressed before the streamed text starts, never inside it', async () => {
    const io = captureIo({ tty: true });
    expect(await runCli(['run', 'Once upon a time', '--steps', '6', '--no-compare'], io)).toBe(0);
    const first = io.writes.findIndex((w) => w.stream === 'out');
    const end = io.writes.findIndex((w, i) => i > first && w.stream === 'out' && w.text === '\n\n');
    expect(io.writes[first]!.text).toBe('Once upon a time');
    expect(end).toBeGreaterThan(first + 1);
    expect(io.writes.slice(first, end).filter((w) => w.stream === 'err')).toEqual([]); // the streamed text is whole
    const before = io.writes.slice(0, first).filter((w) => w.stream === 'err').map((w) => w.text).join('');
    expect(before).toMatch(/note: not compressed after prefill: the prompt \(5 tokens\) is not longer than the observation window \(16\)\.\n$/);
    expect(io.out()).toMatch(/ada-snapkv .* all /); // the table: everything kept

    const json = captureIo();
    expect(await runCli(['run', 'Once upon a time', '--steps', '2', '--no-compare', '--json'], json)).toBe(0);
    const report = JSON.parse(json.out());
    expect(report.compressionSkipped).toBe('the prompt (5 tokens) is not longer than the observation window (16)');
    expect(report.keptAfterPrefill.kept).toBe(report.keptAfterPrefill.of);
    expect(json.err()).toBe('');
    // a prompt long enough to compress: no notice, and nothing skipped
    const long = captureIo({ tty: true });
    expect(await runCli(['run', '--steps', '2', '--no-compare'], long)).toBe(0);
    expect(long.err()).not.toMatch(/note:/);
  });

  it('keeps the compressed run\'s K/V in int8 with --kv-format: fewer bytes, the full cache still f32', async () => {
    const f32 = captureIo();
    expect(await runCli(['run', '--steps', '24', '--json'], f32)).toBe(0);
    const int8 = captureIo();
    expect(await runCli(['run', '--steps', '24', '--json', '--kv-format', 'int8'], int8)).toBe(0);
    const [plain, quantized] = [JSON.parse(f32.out()), JSON.parse(int8.out())];
    expect(quantized.kvFormat).toBe('int8');
    expect(quantized.kvBytes).toBeLessThan(plain.kvBytes * 0.6);
    expect(quantized.full.kvBytes).toBe(plain.full.kvBytes);
    const refused = captureIo();
    expect(await runCli(['run', '--steps', '2', '--kv-format', 'int4', '--backend', 'reference'], refused)).toBe(2);
    expect(refused.err()).toMatch(/^error: The reference backend stores K\/V as f32, not int4/);
  });

  it('plans one byte budget with --kv-bytes: format and entries chosen together, held within the budget', async () => {
    const io = captureIo();
    expect(await runCli(['run', '--steps', '8', '--json', '--kv-bytes', '1/16'], io)).toBe(0);
    const report = JSON.parse(io.out());
    expect(report.bytePlan.format).toBe(report.kvFormat);
    expect(report.method).toBe('kvcompress'); // a byte budget evicts across the sequence unless --method says otherwise
    expect(report.bytePlan.heldBytes).toBeLessThanOrEqual(report.bytePlan.budgetBytes);
    expect(report.bytePlan.budgetBytes).toBe(Math.floor((report.keptAfterPrefill.of * 48 * 8) / 16)); // 1/16 of the prompt's f32 K+V (head dim 48)
    // every format, and (on wasm) heads of several formats where more than one fits
    expect(report.bytePlan.candidates.map((c: { format: string }) => c.format).slice(0, 4)).toEqual(['f32', 'f16', 'int8', 'int4']);
    expect(report.bytePlan.headFormats.flat().length).toBe(6 * 6);
    expect(report.keptAfterPrefill.kept).toBeLessThan(report.keptAfterPrefill.of);
    const table = captureIo();
    expect(await runCli(['run', '--steps', '4', '--kv-bytes', '96KiB', '--kv-format', 'int8', '--no-compare'], table)).toBe(0);
    expect(table.out()).toMatch(/byte plan: int8, up to \d+ entries per head, [\d.]+ KiB held of a 96\.0 KiB budget/);
    expect(table.out()).toMatch(/\nafter decoding: [\d.]+ KiB \(each new token's entries, and in int8\/int4 heads the newest rows in f32 until their block fills\)\n/);
    const named = captureIo();
    expect(await runCli(['run', '--steps', '2', '--json', '--kv-bytes', '1/8', '--method', 'ada-snapkv', '--no-compare'], named)).toBe(0);
    expect(JSON.parse(named.out()).method).toBe('ada-snapkv');
    const refused = captureIo();
    expect(await runCli(['run', '--steps', '2', '--kv-bytes', '1/16', '--max-cache-tokens', '32'], refused)).toBe(2);
    expect(refused.err()).toMatch(/drop --max-cache-tokens/);
    const bad = captureIo();
    expect(await runCli(['run', '--kv-bytes', 'lots'], bad)).toBe(2);
    expect(bad.err()).toMatch(/expected bytes \(e\.g\. 786432, 768KiB, 1\.5MiB\)/);
  });

  it('keeps the protected window in f32 with --full-precision-window, within the byte budget', async () => {
    const io = captureIo();
    expect(await runCli(['run', '--steps', '4', '--json', '--kv-bytes', '1/4', '--full-precision-window', '--no-compare'], io)).toBe(0);
    const report = JSON.parse(io.out());
    expect(report.bytePlan.windowRowsInF32).toBe(15); // the default window, one less than a 16-row block
    expect(report.bytePlan.heldBytes).toBeLessThanOrEqual(report.bytePlan.budgetBytes);
    expect(report.bytePlan.headFormats.flat()).not.toContain('f16');
    const table = captureIo();
    expect(await runCli(['run', '--steps', '2', '--kv-bytes', '1/4', '--full-precision-window', '--window', '8', '--no-compare'], table)).toBe(0);
    expect(table.out()).toMatch(/byte plan: .*, the 8-token window in f32, [\d.]+ KiB held of a [\d.]+ KiB budget/);
    const longWindow = captureIo();
    expect(await runCli(['run', '--steps', '2', '--kv-bytes', '1/4', '--full-precision-window', '--window', '16'], longWindow)).toBe(2);
    expect(longWindow.err()).toMatch(/Lower the window below 16/);
    // the reference backend holds f32 only: the default window stays, already at full precision
    const reference = captureIo();
    expect(await runCli(['run', '--steps', '2', '--json', '--backend', 'reference', '--kv-bytes', '1/2', '--full-precision-window', '--no-compare'], reference)).toBe(0);
    expect(JSON.parse(reference.out()).bytePlan).toMatchObject({ format: 'f32', windowRowsInF32: 16 });
    const alone = captureIo();
    expect(await runCli(['run', '--steps', '2', '--full-precision-window'], alone)).toBe(2);
    expect(alone.err()).toMatch(/give --kv-bytes too/);
  });

  it('keeps the cache within --max-cache-tokens while decoding', async () => {
    const io = captureIo();
    expect(await runCli(['run', 'Once upon a time', '--steps', '40', '--max-cache-tokens', '24', '--window', '4', '--evict-every', '4', '--json', '--no-compare'], io)).toBe(0);
    expect(JSON.parse(io.out()).evictedDuringDecode).toBeGreaterThan(0);
  });

  it.each([
    [['run', 'x', '--method', 'nope'], 2, /Allowed choices are full, streamingllm/],
    [['run', 'x', '--budget', '0'], 2, /expected tokens per head/],
    [['run', 'x', '--window', '0'], 2, /integer in \[1/],
    [['run', '--budget', '8', '--window', '16', '--steps', '2'], 2, /observation window of 16/],
    [['run', 'x', '--model', 'no-such-model.bin'], 2, /No model file at no-such-model.bin/],
    [['run', ''], 2, /prompt is empty/],
    [['run', 'word '.repeat(300)], 3, /is \d+ tokens, more than the limit of 256/],
    [['run', 'x', '--steps', '300'], 3, /exceed the model's context of 256/],
    [['run', 'x', '--frobnicate'], 2, /unknown option '--frobnicate'/],
  ])('refuses %j with exit code %i', async (argv, code, message) => {
    const io = captureIo();
    expect(await runCli(argv, io)).toBe(code);
    expect(io.err()).toMatch(message);
  });
});

describe('adakv run --live', () => {
  it('draws the cache as decode-time eviction works, then prints the text', async () => {
    const io = captureIo();
    expect(await runCli(['run', '--max-cache-tokens', '48', '--steps', '40', '--live', '--no-compare'], io)).toBe(0);
    const frames = io.err().split('position ').slice(1);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames.some((frame) => /layer 0 \S+ +\d+  -\d+/.test(frame))).toBe(true); // an eviction shown
    expect(io.out()).toMatch(/^Once upon a time/);
  }, 60_000);
});
