// A strict parser of the Prometheus text exposition format (0.0.4), for the tests: it reads /metrics
// the way a Prometheus server does and throws on anything a scrape would reject or misread (the
// published `parse-prometheus-text-format`, also used by the tests, is lenient). It follows the format's specification
// (https://prometheus.io/docs/instrumenting/exposition_formats/) character by character:
//   - lines end with \n; empty lines are ignored; `# HELP name text` and `# TYPE name type` are the
//     only meaningful comments (other `#` lines are ignored); HELP text escapes \\ and \n;
//   - a sample is `name{label="value",...} value [timestamp]`; names match [a-zA-Z_:][a-zA-Z0-9_:]*,
//     label names [a-zA-Z_][a-zA-Z0-9_]*, label values escape \\, \" and \n; values are Go floats
//     (NaN, +Inf, -Inf included); a timestamp is an integer (milliseconds);
//   - a TYPE comes before the first sample of its family, once; a HELP at most once; all samples of
//     a family form one group; a histogram `x` has `x_bucket` (with `le`), `x_sum` and `x_count`, a
//     summary `x` (with `quantile`), `x_sum` and `x_count`; one sample per name and label set.
// On top of the format, it checks what makes a family's values coherent: counters and histogram
// counts are >= 0, histogram buckets are cumulative and end with le="+Inf" equal to `_count`.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestamp?: number;
}

export interface MetricFamily {
  readonly name: string;
  type: MetricType;
  help?: string;
  readonly samples: Sample[];
}

const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

const isLetter = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isDigit = (c: string) => c >= '0' && c <= '9';

function isMetricName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (!(isLetter(c) || c === '_' || c === ':' || (i > 0 && isDigit(c)))) return false;
  }
  return true;
}

function isLabelName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (!(isLetter(c) || c === '_' || (i > 0 && isDigit(c)))) return false;
  }
  return true;
}

/** A Go `strconv.ParseFloat` number as Prometheus writes and reads them. */
function parseValue(text: string, where: string): number {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  let i = 0;
  if (text[i] === '+' || text[i] === '-') i++;
  let digits = 0;
  while (i < text.length && isDigit(text[i]!)) (i++, digits++);
  if (text[i] === '.') {
    i++;
    while (i < text.length && isDigit(text[i]!)) (i++, digits++);
  }
  if (digits === 0) throw new Error(`${where}: "${text}" is not a number`);
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    let exponent = 0;
    while (i < text.length && isDigit(text[i]!)) (i++, exponent++);
    if (exponent === 0) throw new Error(`${where}: "${text}" has an empty exponent`);
  }
  if (i !== text.length) throw new Error(`${where}: "${text}" is not a number`);
  return Number(text);
}

function unescapeHelp(text: string, where: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else out += `\\${next ?? ''}`; // other escapes stay as written (the format says so for HELP)
    if (next === undefined) throw new Error(`${where}: HELP ends with a lone backslash`);
  }
  return out;
}

/** Reads `{a="x",b="y"}` from `line` at `start` (the `{`); returns the labels and the index after `}`. */
function readLabels(line: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const skipSpaces = () => {
    while (line[i] === ' ' || line[i] === '\t') i++;
  };
  skipSpaces();
  while (line[i] !== '}') {
    let name = '';
    while (i < line.length && line[i] !== '=' && line[i] !== ' ' && line[i] !== '\t') name += line[i++];
    if (!isLabelName(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label ${name} given twice`);
    skipSpaces();
    if (line[i++] !== '=') throw new Error(`${where}: expected = after label ${name}`);
    skipSpaces();
    if (line[i++] !== '"') throw new Error(`${where}: the value of label ${name} must be quoted`);
    let value = '';
    for (;;) {
      if (i >= line.length) throw new Error(`${where}: unterminated value of label ${name}`);
      const c = line[i++]!;
      if (c === '"') break;
      if (c !== '\\') {
        value += c;
        continue;
      }
      const next = line[i++];
      if (next === '\\') value += '\\';
      else if (next === '"') value += '"';
      else if (next === 'n') value += '\n';
      else throw new Error(`${where}: bad escape \\${next ?? ''} in label ${name}`);
    }
    labels[name] = value;
    skipSpaces();
    if (line[i] === ',') {
      i++;
      skipSpaces();
    } else if (line[i] !== '}') {
      throw new Error(`${where}: expected , or } after label ${name}`);
    }
  }
  return { labels, end: i + 1 };
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, MetricFamily>): { family: string; suffix: string } {
  for (const suffix of ['_bucket', '_sum', '_count'] as const) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const declared = families.get(base);
    if (declared && (declared.type === 'histogram' || (declared.type === 'summary' && suffix !== '_bucket'))) return { family: base, suffix };
  }
  return { family: name, suffix: '' };
}

/** `# HELP name text` / `# TYPE name type`: the keyword, the name and the rest (after one blank); null for other comments. */
function readComment(line: string): { keyword: 'HELP' | 'TYPE'; name: string; rest: string } | null {
  let i = 1;
  const blank = () => line[i] === ' ' || line[i] === '\t';
  while (blank()) i++;
  const keyword = line.slice(i, i + 4);
  if ((keyword !== 'HELP' && keyword !== 'TYPE') || !(line[i + 4] === ' ' || line[i + 4] === '\t')) return null;
  i += 4;
  while (blank()) i++;
  let name = '';
  while (i < line.length && !blank()) name += line[i++];
  if (i < line.length) i++; // the one blank before the text
  return { keyword, name, rest: line.slice(i) };
}

function split(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (const c of text) {
    if (c === ' ' || c === '\t') {
      if (current) parts.push(current);
      current = '';
    } else current += c;
  }
  if (current) parts.push(current);
  return parts;
}

/** Parses a whole exposition; throws with the line number on the first violation. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  const typed = new Set<string>();
  let current: string | null = null;
  const family = (name: string): MetricFamily => {
    let found = families.get(name);
    if (!found) {
      found = { name, type: 'untyped', samples: [] };
      families.set(name, found);
    }
    return found;
  };
  const enter = (name: string, where: string) => {
    if (current === name) return;
    if (finished.has(name)) throw new Error(`${where}: samples of ${name} are not in one group`);
    if (current !== null) finished.add(current);
    current = name;
  };
  text.split('\n').forEach((raw, index) => {
    const where = `line ${index + 1}`;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const comment = readComment(line);
      if (!comment) return; // a plain comment
      const { keyword, name, rest } = comment;
      if (!isMetricName(name)) throw new Error(`${where}: ${keyword} needs a metric name`);
      const target = family(name);
      if (keyword === 'TYPE') {
        const words = split(rest);
        if (words.length !== 1 || !TYPES.has(words[0]!)) throw new Error(`${where}: bad TYPE line`);
        if (target.samples.length > 0) throw new Error(`${where}: TYPE of ${name} after its samples`);
        if (typed.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
        typed.add(name);
        target.type = words[0] as MetricType;
      } else {
        if (target.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        target.help = unescapeHelp(rest, where);
      }
      enter(name, where);
      return;
    }
    let i = 0;
    let name = '';
    while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') name += line[i++];
    if (!isMetricName(name)) throw new Error(`${where}: bad metric name "${name}"`);
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = readLabels(line, i, where));
    const rest = split(line.slice(i));
    if (rest.length < 1 || rest.length > 2) throw new Error(`${where}: expected a value and an optional timestamp`);
    const value = parseValue(rest[0]!, where);
    let timestamp: number | undefined;
    if (rest[1] !== undefined) {
      const t = rest[1];
      const digits = t.startsWith('-') ? t.slice(1) : t;
      if (digits.length === 0 || [...digits].some((c) => !isDigit(c))) throw new Error(`${where}: bad timestamp ${t}`);
      timestamp = Number(t);
    }
    const { family: familyName, suffix } = familyOf(name, families);
    const target = family(familyName);
    enter(familyName, where);
    if (target.type === 'histogram' && suffix === '') throw new Error(`${where}: histogram ${familyName} has a bare sample`);
    if (target.type === 'histogram' && suffix === '_bucket' && labels.le === undefined) throw new Error(`${where}: bucket without le`);
    if (target.type === 'summary' && suffix === '' && labels.quantile === undefined) throw new Error(`${where}: summary sample without quantile`);
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
    if (seen.has(key)) throw new Error(`${where}: ${key} given twice`);
    seen.add(key);
    target.samples.push({ name, labels, value, ...(timestamp === undefined ? {} : { timestamp }) });
  });
  for (const f of families.values()) checkFamily(f);
  return families;
}

function checkFamily(family: MetricFamily): void {
  if (family.type === 'counter') {
    for (const s of family.samples) if (!(s.value >= 0)) throw new Error(`counter ${s.name} is ${s.value}`);
  }
  if (family.type !== 'histogram') return;
  // one series per label set other than le
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith('_bucket')) entry.buckets.push([parseValue(le!, `bucket of ${family.name}`), s.value]);
    else if (s.name.endsWith('_count')) entry.count = s.value;
    else entry.sum = s.value;
  }
  for (const [key, { buckets, count, sum }] of series) {
    if (count === undefined || sum === undefined) throw new Error(`histogram ${family.name} ${key} lacks _count or _sum`);
    const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
    if (sorted.at(-1)?.[0] !== Number.POSITIVE_INFINITY) throw new Error(`histogram ${family.name} ${key} has no +Inf bucket`);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![1] < sorted[i - 1]![1]) throw new Error(`histogram ${family.name} ${key}: buckets are not cumulative`);
    }
    if (sorted.at(-1)![1] !== count) throw new Error(`histogram ${family.name} ${key}: +Inf bucket ${sorted.at(-1)![1]} != count ${count}`);
    if (count < 0) throw new Error(`histogram ${family.name} ${key}: negative count`);
  }
}

/** The one sample of `name` whose labels include `labels`; throws if there is none or several. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length !== 1) throw new Error(`${matches.length} samples of ${name} ${JSON.stringify(labels)}`);
  return matches[0]!.value;
}
