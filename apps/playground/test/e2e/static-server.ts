import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

const types: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
};

export interface StaticServer {
  readonly origin: string;
  /** Every path asked for, in order. */
  readonly requests: string[];
  /** Stops answering at once (open connections included): the page is offline from here on. */
  close(): Promise<void>;
}

/** The headers a host sends to make the site cross-origin isolated (see the README's Hosting). */
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/**
 * A static host for the built site: `root` served under `base` (a sub-path, as on a real host), plus
 * `aliases` (absolute path -> file) for files hosted elsewhere on the origin; `headers` go on every
 * response (none by default: a plain host that cannot set any).
 */
export async function serveStatic(root: string, base: string, aliases: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<StaticServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const underRoot = path.startsWith(base) ? normalize(join(root, path.slice(base.length) || 'index.html')) : undefined;
    const file = aliases[path] ?? (underRoot?.startsWith(root) ? underRoot : undefined);
    if (!file || !existsSync(file) || statSync(file).isDirectory()) return void response.writeHead(404, headers).end();
    const body = readFileSync(file);
    response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': body.byteLength, ...headers }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
