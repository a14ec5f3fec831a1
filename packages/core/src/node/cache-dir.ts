import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where adakv keeps downloaded models: `$ADAKV_CACHE_DIR`, else `$XDG_CACHE_HOME/adakv`, else `~/.cache/adakv`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ADAKV_CACHE_DIR) return env.ADAKV_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'adakv');
}
