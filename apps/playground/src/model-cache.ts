/**
 * Verified model files kept in Cache Storage, keyed by their sha256: a reload (or a visit without
 * network) reads them from the browser instead of downloading 60 MB again. Caching is a bonus: where
 * Cache Storage is missing (insecure origins) or full, the page simply downloads.
 */
const CACHE_NAME = 'adakv-models';

const storage = (): CacheStorage | undefined => (typeof caches === 'undefined' ? undefined : caches);

/** The cache key of a file: its URL with the content hash, so a changed file never hits a stale entry. */
export function contentKey(url: URL, sha256: string): string {
  const keyed = new URL(url);
  keyed.searchParams.set('sha256', sha256);
  return keyed.href;
}

export async function cachedBytes(key: string): Promise<Uint8Array | undefined> {
  try {
    const hit = await (await storage()?.open(CACHE_NAME))?.match(key);
    return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
  } catch {
    return undefined;
  }
}

export async function storeBytes(key: string, bytes: Uint8Array, type = 'application/octet-stream'): Promise<boolean> {
  try {
    const cache = await storage()?.open(CACHE_NAME);
    if (!cache) return false;
    await cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': type } }));
    return true;
  } catch {
    return false; // quota exceeded or storage disabled: the next visit downloads again
  }
}
