/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests of /metrics: every
 * line must be a HELP, a TYPE or a sample; every family has one HELP and one TYPE before its
 * samples; every sample belongs to a declared family (histograms: _bucket, _sum, _count); values
 * are numbers. Throws on anything else, so a malformed scrape fails the test that reads it.
 */
export interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  families: Map<string, Family>;
  samples: Sample[];
  /** The value of the one sample `name` whose labels include `labels` (undefined: none). */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function familyOf(name: string, families: Map<string, Family>): string | undefined {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const f = families.get(base);
    if (f !== undefined && (f.type === 'histogram' || f.type === 'summary')) return base;
  }
  return undefined;
}

export function parsePromText(text: string): Scrape {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const [name, ...rest] = line.slice(7).split(' ');
      if (helps.has(name!)) throw new Error(`two HELP lines for ${name}`);
      helps.set(name!, rest.join(' '));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!TYPES.has(type!)) throw new Error(`bad TYPE line: ${line}`);
      if (families.has(name!)) throw new Error(`two TYPE lines for ${name}`);
      const help = helps.get(name!);
      if (help === undefined || help === '') throw new Error(`${name} has a TYPE but no HELP before it`);
      families.set(name!, { help, type: type as Family['type'] });
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3] !== undefined && m[3] !== '') {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < m[3].length) {
        const l = LABEL.exec(m[3]);
        if (l === null) throw new Error(`bad labels: ${line}`);
        labels[l[1]!] = l[2]!;
      }
    }
    // Prometheus reads values with Go's ParseFloat, which takes NaN in any case (prom-client
    // writes "Nan", e.g. for an event-loop mean before its first sample).
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : /^nan$/i.test(m[4]!) ? NaN : Number(m[4]);
    if (Number.isNaN(value) && !/^nan$/i.test(m[4]!)) throw new Error(`bad value: ${line}`);
    if (familyOf(m[1]!, families) === undefined) throw new Error(`sample of no declared family: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return {
    families,
    samples,
    value(name, want = {}) {
      const found = samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(want)}`);
      return found[0]?.value;
    },
  };
}

/** GETs /metrics on 127.0.0.1:`port` and parses it (expects 200 and the text format). */
export async function scrape(port: number, token?: string): Promise<Scrape> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${await r.text()}`);
  const type = r.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`/metrics content-type: ${type}`);
  return parsePromText(await r.text());
}
