// `npm test` runs this (turbo task //#test:readme, after every package's build): every ```ts and ```js
// block of README.md, packages/*/README.md and apps/*/README.md runs in Node, as written, against the
// built packages, and the ```ts ones are type-checked (strict) first.
//
// A block that cannot run in Node, or is a fragment, carries a marker as the last line before it:
//
//   <!-- readme-sample: skip (browser: fetches the model files by URL) -->
//
// The reason is required. A marker that is not right before a ts/js block fails the run, so markers
// cannot go stale. Blocks in other languages (sh, python, nginx, transcripts) are not run: the shell
// blocks start servers, download, or take minutes, and the commands they show are tested by the CLI's
// own suite.
//
// Each block is written (TypeScript transpiled by `typescript`) into node_modules/.cache/readme-samples,
// inside the repository so that `@adakv/*` resolve to the workspace packages, and run by `node` in a
// process of its own with a time limit (top-level await is used). A sample that throws, exits non-zero,
// or does not finish in time (a handle left open counts: a user's script would hang too) fails the run.
//
//   node scripts/readme-samples.mjs            everything
//   node scripts/readme-samples.mjs core/      only the blocks whose `file:line` contains "core/"
//   node scripts/readme-samples.mjs --list     the blocks and what would happen to each, without running
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'node_modules', '.cache', 'readme-samples');
const require = createRequire(join(root, 'package.json'));
const ts = require('typescript');
const tsc = require.resolve('typescript/bin/tsc');
const TIMEOUT_MS = Number(process.env.ADAKV_README_SAMPLE_TIMEOUT_MS ?? 300_000);
const RUNNABLE = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);
const MARKER = /^<!--\s*readme-sample:\s*skip\s*\((.+)\)\s*-->$/;

const args = process.argv.slice(2);
const listOnly = args.includes('--list');
const filter = args.find((arg) => !arg.startsWith('--'));
const problems = [];

function readmes() {
  const files = ['README.md'];
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group)).sort()) {
      if (existsSync(join(root, group, name, 'README.md'))) files.push(`${group}/${name}/README.md`);
    }
  }
  return files;
}

/** The fenced blocks of a Markdown file: language, first line number, code, and the marker before it. */
function blocks(file) {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const found = [];
  const markers = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim().startsWith('<!--') && line.includes('readme-sample')) {
      const match = MARKER.exec(line.trim());
      if (!match) problems.push(`${file}:${i + 1}: a readme-sample comment must read <!-- readme-sample: skip (reason) -->`);
      else markers.push({ line: i + 1, reason: match[1].trim(), used: false });
      continue;
    }
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(line);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    const start = i + 1;
    const code = [];
    const closes = (text) => {
      const trimmed = text.trim();
      return trimmed.length >= fence.length && trimmed === fence[0].repeat(trimmed.length);
    };
    for (i++; i < lines.length && !closes(lines[i]); i++) {
      code.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i]);
    }
    let before = start - 2;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = markers.find((m) => m.line === before + 1);
    if (marker) marker.used = true;
    found.push({ file, line: start, lang: lang.toLowerCase(), code: code.join('\n'), skip: marker?.reason });
  }
  for (const marker of markers.filter((m) => !m.used)) {
    problems.push(`${file}:${marker.line}: a readme-sample marker must be the last line before a code block`);
  }
  return found;
}

const all = readmes().flatMap(blocks);
for (const block of all) {
  if (!RUNNABLE.has(block.lang) && block.skip) {
    problems.push(`${block.file}:${block.line}: a readme-sample marker before a ${block.lang || 'plain'} block, which is never run`);
  }
}

const samples = all.filter((b) => RUNNABLE.has(b.lang));
const others = all.filter((b) => !RUNNABLE.has(b.lang));
const selected = samples.filter((b) => !filter || `${b.file}:${b.line}`.includes(filter));
const where = (b) => `${b.file}:${b.line}`;

if (problems.length > 0) {
  console.error(`README samples: fix the markers first:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
if (listOnly) {
  for (const b of selected) console.log(`${b.skip ? `skip (${b.skip})` : 'run '}  ${where(b)}  [${b.lang}]`);
  console.log(`${others.length} blocks in other languages are not run.`);
  process.exit(0);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const toRun = selected.filter((b) => !b.skip);
for (const b of toRun) {
  b.name = `${b.file.replace(/\/README\.md$/, '').replace(/[^\w]+/g, '-').replace(/^README-md$/, 'root')}-L${b.line}`;
  const isTs = b.lang === 'ts' || b.lang === 'typescript';
  if (isTs) {
    writeFileSync(join(work, `${b.name}.ts`), `${b.code}\n`);
    const out = ts.transpileModule(b.code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, isolatedModules: true },
      reportDiagnostics: true,
      fileName: `${b.name}.ts`,
    });
    if (out.diagnostics?.length) problems.push(`${where(b)}: ${ts.flattenDiagnosticMessageText(out.diagnostics[0].messageText, '\n')}`);
    writeFileSync(join(work, `${b.name}.mjs`), out.outputText);
  } else {
    writeFileSync(join(work, `${b.name}.mjs`), `${b.code}\n`);
  }
}

// type-check the TypeScript samples as a user's strict project would compile them
const tsFiles = toRun.filter((b) => b.lang === 'ts' || b.lang === 'typescript').map((b) => `${b.name}.ts`);
if (tsFiles.length > 0) {
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], types: ['node'], skipLibCheck: true },
      files: tsFiles,
    }),
  );
  const checked = spawnSync(process.execPath, [tsc, '-p', join(work, 'tsconfig.json')], { cwd: work, encoding: 'utf8' });
  if (checked.status === 0) console.log(`typed ${tsFiles.length} TypeScript samples (strict): no errors`);
  if (checked.status !== 0) {
    const names = new Map(toRun.map((b) => [`${b.name}.ts`, b]));
    const text = `${checked.stdout}${checked.stderr}`.replace(/^([\w.-]+\.ts)\((\d+),(\d+)\)/gm, (whole, name, line, column) => {
      const b = names.get(name);
      return b ? `${b.file}:${b.line + Number(line)}:${column}` : whole;
    });
    problems.push(`the TypeScript samples do not type-check:\n${text.trim()}`);
  }
}
if (problems.length > 0) {
  console.error(`README samples:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}

const failed = [];
for (const b of selected) {
  if (b.skip) {
    console.log(`skip  ${where(b)} (${b.skip})`);
    continue;
  }
  const started = performance.now();
  const result = spawnSync(process.execPath, [join(work, `${b.name}.mjs`)], {
    cwd: work,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.status === 0) {
    console.log(`ok    ${where(b)} (${seconds} s)`);
    continue;
  }
  const why = result.error?.code === 'ETIMEDOUT' ? `did not finish within ${TIMEOUT_MS / 1000} s` : `exited with ${result.status ?? result.signal}`;
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-40).join('\n');
  console.log(`FAIL  ${where(b)} (${why}, ${seconds} s; the sample is ${relative(root, join(work, `${b.name}.mjs`))})\n${output}\n`);
  failed.push(where(b));
}

const skipped = selected.filter((b) => b.skip);
console.log(
  `README samples: ${toRun.length - failed.length} of ${toRun.length} ran as written, ${skipped.length} skipped; ` +
    `${others.length} blocks in other languages (${[...new Set(others.map((b) => b.lang || 'plain'))].join(', ')}) are not run.`,
);
if (failed.length > 0) {
  console.error(`README samples failed: ${failed.join(', ')}`);
  process.exit(1);
}
