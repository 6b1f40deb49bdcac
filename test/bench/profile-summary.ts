/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`): top functions by self
 * time, and self time by where the code lives (our sources by file, packages by name, node's
 * internals, GC, idle).
 *
 *   node --import tsx test/bench/profile-summary.ts FILE.cpuprofile [TOP] [SKIP_SECONDS]
 *
 * SKIP_SECONDS leaves out the first seconds of the profile (the server's start: tsx compiling
 * the sources), so what remains is the server under load.
 */
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

function place(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  const ours = /\/work\/[^/]+\/(.*)$/.exec(url.replace(/^file:\/\//, ''));
  return ours ? ours[1]! : url;
}

export function summarizeProfile(file: string, top = 25, skipSeconds = 0): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const from = p.startTime + skipSeconds * 1e6;
  let t = p.startTime;
  let total = 0;
  // timeDeltas[i] is the time before sample i; charge it to the node sampled at i.
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from) continue;
    total += dt;
    selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + dt);
  }
  const fns = new Map<string, number>();
  const places = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const where = place(f.url, f.functionName);
    const key = `${f.functionName || '(anonymous)'}  ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    places.set(where, (places.get(where) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const idle = places.get('(idle)') ?? 0;
  const lines = [
    `${file}: ${(total / 1e6).toFixed(1)} s profiled${skipSeconds > 0 ? ` (the first ${skipSeconds} s left out)` : ''}, ` +
      `main thread ${pct(total - idle).trim()} busy`,
    '',
    `top ${top} functions by self time:`,
    ...[...fns].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `  ${pct(us)}  ${k}`),
    '',
    'self time by place:',
    ...[...places].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `  ${pct(us)}  ${k}`),
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top, skip] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node --import tsx test/bench/profile-summary.ts FILE.cpuprofile [TOP] [SKIP_SECONDS]\n');
    process.exit(2);
  }
  process.stdout.write(`${summarizeProfile(file, top === undefined ? 25 : Number(top), skip === undefined ? 0 : Number(skip))}\n`);
}
