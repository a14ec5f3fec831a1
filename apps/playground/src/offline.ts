/**
 * Offline use: the service worker (sw.js, written by the build) keeps the page's own files; the model
 * files are kept by the page itself (model-cache.ts). Registered after the model has loaded, so its
 * downloads do not compete with the model's.
 */
export async function keepOffline(status: HTMLElement, modelKept: boolean): Promise<void> {
  if (!import.meta.env.PROD) {
    status.textContent = 'Development server: no offline copy is kept.';
    return;
  }
  if (!('serviceWorker' in navigator)) {
    status.textContent = 'This browser keeps no offline copy here (service workers need https:// or localhost).';
    return;
  }
  try {
    await navigator.serviceWorker.register('./sw.js');
    await navigator.serviceWorker.ready;
    status.textContent = modelKept
      ? 'Kept in this browser: the page and its model now open and run without network.'
      : 'The page is kept in this browser, but the model could not be stored (storage full or disabled): it downloads again next time.';
    document.body.dataset.offline = 'ready';
  } catch (error) {
    status.textContent = `No offline copy could be kept (${(error as Error).message}).`;
  }
}
