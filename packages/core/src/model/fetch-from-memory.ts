/** @huggingface/gguf reads through `fetch` with range requests; this one answers them from memory. */
export function fetchFromMemory(bytes: Uint8Array): typeof fetch {
  return (async (_input: unknown, init?: { headers?: Record<string, string> }) => {
    const range = /bytes=(\d+)-(\d+)/.exec(init?.headers?.Range ?? '');
    const start = Math.min(Number(range?.[1] ?? 0), bytes.byteLength);
    const end = Math.min(Number(range?.[2] ?? bytes.byteLength - 1) + 1, bytes.byteLength);
    return new Response(bytes.slice(start, end), {
      status: 206,
      headers: { 'content-range': `bytes ${start}-${Math.max(start, end - 1)}/${bytes.byteLength}` },
    });
  }) as typeof fetch;
}
