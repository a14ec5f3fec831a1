import {
  type BackendChoice,
  type ChosenBackend,
  DEMO_PROMPT,
  type MethodName,
  type Model,
  cacheGeometry,
  chooseBackend,
  concentration,
  formatBytes,
  listMethods,
  planCompression,
  retainedMass,
} from '@adakv/core';
import { budgetHeatmap, concentrationCurves, massBars } from './charts.js';
import { type LiveStats, runSideBySide } from './generation.js';
import { LiveCacheView } from './live-cache-view.js';
import { bytePlanText, compressionText, engineLine, paperParts, softwareWebGpuNotice, takeaway, webGpuFallbackNotice } from './summaries.js';
import { type Isolation, ensureIsolation } from './isolation.js';
import { loadServedModel, loadUserFiles } from './model-source.js';
import { keepOffline } from './offline.js';
import { type RawSettings, type Settings, evictsWhileDecoding, parseSettings } from './settings.js';
import { siteConfig } from './site-config.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('settings');
const modelStatus = $('model-status');
const runStatus = $('run-status');
const generate = $<HTMLButtonElement>('generate');
const stop = $<HTMLButtonElement>('stop');
const methodSelect = $<HTMLSelectElement>('method');
let model: Model | null = null;
let modelName = '';
/** Each backend started once for the page (the .wasm fetched once, one GPU device), shared by every run. */
const backends = new Map<BackendChoice, Promise<ChosenBackend>>();
let running: AbortController | null = null;
const config = siteConfig(location.search, document.baseURI);
/** Whether WASM threads are possible here, and if not, why (set before anything loads; see isolation.ts). */
let isolation: Isolation = { isolated: false, reason: 'not checked yet' };

function say(element: HTMLElement, text: string, kind: 'info' | 'error' | 'notice' = 'info'): void {
  element.textContent = text;
  element.className = kind === 'info' ? '' : kind;
}

function setState(state: 'loading' | 'ready' | 'running' | 'done' | 'error'): void {
  document.body.dataset.state = state;
}

for (const method of listMethods()) methodSelect.add(new Option(method.name, method.name));
methodSelect.value = 'ada-snapkv';
const summary = () => {
  const method = listMethods().find((m) => m.name === methodSelect.value);
  const line = $('method-summary');
  line.replaceChildren(`${method?.summary ?? ''} `);
  for (const part of paperParts(method?.paper ?? '')) {
    if (!part.href) line.append(part.text);
    else line.append(Object.assign(document.createElement('a'), { href: part.href, textContent: part.text }));
  }
};
methodSelect.addEventListener('change', summary);
summary();
$<HTMLTextAreaElement>('prompt').value = DEMO_PROMPT;

/** The engine line for a backend (build and threads, or why one thread). */
const describe = (backend: ChosenBackend['backend']) => engineLine(backend, isolation, config.wasm !== undefined);

async function useModel(loaded: Model, name: string): Promise<void> {
  const { backend } = await backendFor('wasm'); // fetch the .wasm now, not at the first run
  model = loaded;
  modelName = name;
  const { layers, queryHeads, kvHeads, headDim, contextLength } = loaded.config;
  say(modelStatus, `${name}: ${layers} layers, ${queryHeads} query / ${kvHeads} KV heads of ${headDim}, context ${contextLength}. Ready.`);
  if (!running) say(runStatus, `The WASM backend runs on the ${describe(backend)}`);
  generate.disabled = false;
  setState('ready');
}

/** Loads the model served with the site; true when its files are kept in this browser for next time. */
async function loadDefault(): Promise<boolean> {
  setState('loading');
  const progress = $<HTMLProgressElement>('model-progress');
  try {
    const { model: loaded, cached, kept } = await loadServedModel(config.modelBase, (label, received, total) => {
      progress.value = total ? received / total : 0;
      say(modelStatus, `Downloading ${label}: ${formatBytes(received)} of ${formatBytes(total)}…`);
    }, (step) => say(modelStatus, step));
    progress.value = 1;
    await useModel(loaded, cached ? 'stories15M (from this browser\'s storage)' : 'stories15M');
    return kept;
  } catch (error) {
    say(modelStatus, (error as Error).message, 'error');
    setState('error');
    return false;
  }
}

async function loadFiles(files: File[]): Promise<void> {
  say(modelStatus, `Reading ${files.map((f) => f.name).join(' and ')}…`);
  try {
    await useModel(await loadUserFiles(files), files.map((f) => f.name).join(' + '));
  } catch (error) {
    // The model loaded before (if any) stays in use.
    const still = model ? ` Still using ${modelName}.` : '';
    say(modelStatus, `That file cannot be used: ${(error as Error).message}${still}`, 'error');
    setState(model ? 'ready' : 'error');
  }
}

const picker = $<HTMLInputElement>('model-files');
picker.addEventListener('change', () => void loadFiles([...(picker.files ?? [])]));
// Files dropped anywhere on the page are taken as a model (a browser would otherwise open them in
// place of the page); the zone lights up while files are dragged over the page.
const dropZone = $('drop-zone');
const carriesFiles = (event: DragEvent) => event.dataTransfer?.types.includes('Files') ?? false;
document.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dropZone.classList.add('over');
});
document.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) dropZone.classList.remove('over');
});
document.addEventListener('drop', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dropZone.classList.remove('over');
  void loadFiles([...(event.dataTransfer?.files ?? [])]);
});

/** The backend a choice starts, once per page; a failed start is forgotten so the next run can retry. */
function backendFor(choice: BackendChoice): Promise<ChosenBackend> {
  let chosen = backends.get(choice);
  if (!chosen) {
    chosen = chooseBackend(choice, config.wasm ? { wasm: config.wasm } : {});
    backends.set(choice, chosen);
    chosen.catch(() => backends.delete(choice));
  }
  return chosen;
}

/** Decoded tokens between two samples of the cache for the live view. */
const LIVE_EVERY = 4;

/** The live cache figure for a run that evicts while decoding; otherwise a line saying how to get one. */
function liveCacheView(settings: Settings): LiveCacheView | null {
  const [chart, summary] = [$('live-cache'), $('live-cache-summary')];
  if (evictsWhileDecoding(settings)) return new LiveCacheView(chart, summary, settings.maxCacheTokens!, settings.steps);
  delete chart.dataset.frames;
  delete chart.dataset.frame;
  chart.textContent =
    settings.method === 'full'
      ? 'The full method keeps every entry: nothing is evicted while decoding.'
      : 'Set “Max cache tokens per head” to watch decode-time eviction as the answer is generated.';
  summary.textContent = '';
  return null;
}

/** The chosen backend and, when `auto` fell back to WASM, a notice saying why in words for browser users (shown at once). */
async function openBackend(settings: Settings): Promise<{ chosen: ChosenBackend; notice: string | null }> {
  const chosen = await backendFor(settings.backend);
  const notice =
    chosen.fallback === 'software-adapter'
      ? softwareWebGpuNotice(chosen.skippedAdapter ?? 'unknown')
      : chosen.fallback === 'no-adapter'
        ? webGpuFallbackNotice('gpu' in navigator)
        : null;
  if (notice) say(runStatus, notice, 'notice');
  return { chosen, notice };
}

function drawFigures(settings: Settings, loaded: Model, result: Awaited<ReturnType<typeof runSideBySide>>): void {
  const geometry = cacheGeometry(loaded.config);
  const { plan, observations } = result;
  if (!plan || observations.length === 0) {
    for (const id of ['heatmap', 'curves', 'mass']) $(id).textContent = 'Nothing was evicted (full cache, or a prompt within the window).';
    $('takeaway').textContent = '';
    return;
  }
  $('heatmap').innerHTML = budgetHeatmap(plan.layers.map((l) => Array.from(l.budgetPerHead)), `Entries kept per head by ${plan.method}`);
  const curves = concentration(geometry, observations, settings.window).heads.flatMap((heads, layer) =>
    heads.map((h, head) => ({ layer, head, massAt: h.massAt, fractionFor90: h.fractionForTarget })),
  );
  $('curves').innerHTML = concentrationCurves(curves, 'Attention mass vs share of the cache, per head');
  const options = { window: settings.window, alpha: settings.alpha };
  const mass = (method: MethodName) => retainedMass(geometry, observations, planCompression({ method, geometry, observations, budget: settings.budget, options })).perLayer;
  const [uniform, adaptive] = [mass('snapkv'), mass('ada-snapkv')];
  $('mass').innerHTML = massBars(uniform, adaptive, 'Retained attention mass per layer, uniform vs Ada-KV');
  $('takeaway').textContent = takeaway(curves.map((c) => c.fractionFor90), uniform, adaptive);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!model || running) return;
  const loaded = model;
  let settings: Settings;
  try {
    settings = parseSettings(Object.fromEntries(new FormData(form)) as RawSettings);
  } catch (error) {
    say(runStatus, (error as Error).message, 'error');
    return;
  }
  const answers = { compressed: $('answer-compressed'), full: $('answer-full') };
  for (const answer of Object.values(answers)) {
    answer.textContent = '';
    delete answer.dataset.tokens;
  }
  say(runStatus, 'Generating…');
  running = new AbortController();
  generate.disabled = true;
  stop.disabled = false;
  setState('running');
  const showStats = (stats: LiveStats) => {
    $('stat-compressed').textContent = formatBytes(stats.compressedBytes);
    $('stat-full').textContent = formatBytes(stats.fullBytes);
    $('stat-ratio').textContent = compressionText(stats);
    $('stat-agreement').textContent = `${stats.agreeing} of ${stats.generated} tokens`;
    $('stat-speed').textContent = stats.tokensPerSecond.toFixed(1);
  };
  const live = liveCacheView(settings);
  const watcher = live ? { every: LIVE_EVERY, onSample: live.push.bind(live) } : undefined;
  const signal = running.signal;
  // The closing status names the engine (for WASM: its build and threads, or why one thread), after
  // auto's fallback notice when there was one.
  let done = '';
  void openBackend(settings)
    .then(({ chosen: { backend }, notice }) => {
      done = notice ? `${notice} ${describe(backend)}` : `Done on ${describe(backend)}`;
      return runSideBySide(loaded, settings, backend, (side, text) => answers[side].append(text), showStats, signal, watcher);
    })
    .then((result) => {
      answers.compressed.dataset.tokens = JSON.stringify(result.tokens.compressed);
      answers.full.dataset.tokens = JSON.stringify(result.tokens.full);
      drawFigures(settings, loaded, result);
      if (result.bytePlan) done = `${done} ${bytePlanText(result.bytePlan)}`;
      say(runStatus, done, runStatus.classList.contains('notice') ? 'notice' : 'info');
      setState('done');
    })
    .catch((error: Error) => {
      say(runStatus, error.name === 'AbortError' ? 'Stopped.' : error.message, error.name === 'AbortError' ? 'info' : 'error');
      setState(error.name === 'AbortError' ? 'done' : 'error');
    })
    .finally(() => {
      live?.finish(); // the last frame stays, also where Stop or an error left the run
      running = null;
      generate.disabled = false;
      stop.disabled = true;
    });
});
stop.addEventListener('click', () => running?.abort());

// Cross-origin isolation first (on a host without the headers, the first visit registers the service
// worker and reloads once, before any download), then the model, then the offline copy.
void ensureIsolation().then((outcome) => {
  if (!outcome) return; // reloading
  isolation = outcome;
  document.body.dataset.isolated = String(outcome.isolated);
  return loadDefault().then((kept) => keepOffline($('offline-status'), kept));
});
