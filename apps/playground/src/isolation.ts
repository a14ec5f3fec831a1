/**
 * Cross-origin isolation: WebAssembly threads need SharedArrayBuffer, which browsers give only to pages
 * served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`.
 * The Vite dev and preview servers send them (vite.config.ts), as a host configured per the README does.
 * A static host that cannot set headers gets them from the service worker (sw.js): it re-serves every
 * navigation with both headers, so on a first visit the page registers it and reloads once. A session
 * flag keeps that to one reload; where it does not help (or there is no service worker) the engine runs
 * single-threaded and the page says why.
 */

export type Isolation = { readonly isolated: true } | { readonly isolated: false; readonly reason: string };

export interface IsolationEnvironment {
  /** `globalThis.crossOriginIsolated`. */
  readonly crossOriginIsolated: boolean;
  /** A production build (the service worker exists only there). */
  readonly production: boolean;
  /** `'serviceWorker' in navigator`: false on http:// hosts other than localhost. */
  readonly serviceWorkers: boolean;
  /** sessionStorage works, so a reload can be remembered (no reload without it: no loops). */
  readonly sessionStorage: boolean;
  /** This session already reloaded once for isolation. */
  readonly reloaded: boolean;
}

export type IsolationStep = { readonly action: 'none'; readonly isolation: Isolation } | { readonly action: 'register-and-reload' };

const NO_HEADERS = 'this host sends no Cross-Origin-Opener-Policy/Cross-Origin-Embedder-Policy headers';

/** What to do about isolation when the page starts (pure, so it is unit-tested). */
export function isolationStep(env: IsolationEnvironment): IsolationStep {
  const none = (reason: string): IsolationStep => ({ action: 'none', isolation: { isolated: false, reason } });
  if (env.crossOriginIsolated) return { action: 'none', isolation: { isolated: true } };
  if (!env.production) return none('the development server sent no Cross-Origin-Opener-Policy/Cross-Origin-Embedder-Policy headers');
  if (!env.serviceWorkers) return none(`${NO_HEADERS}, and service workers, which could add them, are unavailable here (they need https:// or localhost)`);
  if (!env.sessionStorage) return none(`${NO_HEADERS}, and without session storage the page cannot reload once for its service worker to add them`);
  if (env.reloaded) return none(`${NO_HEADERS}, and the page's service worker did not make it isolated after one reload (this browser may not support it)`);
  return { action: 'register-and-reload' };
}

const RELOAD_FLAG = 'adakv-playground-isolation-reload';
const ACTIVATION_TIMEOUT_MS = 20_000;

function session(): Storage | null {
  try {
    const storage = globalThis.sessionStorage;
    storage.getItem(RELOAD_FLAG);
    return storage;
  } catch {
    return null;
  }
}

/** Resolves once `worker` is activated; rejects when it becomes redundant (its install failed) or takes too long. */
function activation(worker: ServiceWorker): Promise<void> {
  return new Promise((resolve, reject) => {
    if (worker.state === 'activated') return resolve();
    const timer = setTimeout(() => reject(new Error('it did not activate in time')), ACTIVATION_TIMEOUT_MS);
    worker.addEventListener('statechange', () => {
      if (worker.state === 'activated') {
        clearTimeout(timer);
        resolve();
      } else if (worker.state === 'redundant') {
        clearTimeout(timer);
        reject(new Error('it failed to install'));
      }
    });
  });
}

/**
 * Makes the page cross-origin isolated if it can: resolves with the outcome, or with `null` when it
 * has started the one reload (the caller then does nothing more).
 */
export async function ensureIsolation(serviceWorkerUrl = './sw.js'): Promise<Isolation | null> {
  const storage = session();
  const step = isolationStep({
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    production: import.meta.env.PROD,
    serviceWorkers: 'serviceWorker' in navigator,
    sessionStorage: storage !== null,
    reloaded: storage?.getItem(RELOAD_FLAG) === '1',
  });
  if (step.action === 'none') {
    if (step.isolation.isolated) storage?.removeItem(RELOAD_FLAG);
    return step.isolation;
  }
  try {
    const registration = (await navigator.serviceWorker.register(serviceWorkerUrl)) as ServiceWorkerRegistration | undefined;
    if (!registration) throw new Error('the browser refused to register it');
    // A new or updated worker first (an older active one may not add the headers), else the active one.
    const worker = registration.installing ?? registration.waiting ?? registration.active;
    if (!worker) throw new Error('it did not install');
    await activation(worker);
  } catch (error) {
    return { isolated: false, reason: `${NO_HEADERS}, and the service worker that adds them could not start (${(error as Error).message})` };
  }
  storage!.setItem(RELOAD_FLAG, '1');
  location.reload();
  return null;
}
