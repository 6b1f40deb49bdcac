/**
 * The simulator's command line (`npm run sim -- ...`):
 *
 *   --seed S            replay one seed exactly: its trace hash and a summary (and, on failure,
 *                       the violation and the last events)
 *   --runs N [--from S] sweep seeds S, S+1, ... (default from 1): failing seeds with their first
 *                       violation, then a tally and the wall time
 *   --steps N           nemesis steps per run (default 40)
 *   --nodes N           cluster size (default: 3 or 5, from the seed)
 *   --mutation NAME     plant a bug (mutations.ts); a sweep stops at the first seed that catches it
 *   --jobs N            sweep with N worker threads (default 1)
 *   --avoid A,B         leave parts of the swarm out: disk-full, single-node, membership, crash
 *   --calm              no faults
 *   --trace             print every event of a --seed run
 *   --keep-going        with --mutation: do not stop at the first failure
 *
 * Exits 1 if any run failed. Real time, timers and Math.random are disabled while runs execute,
 * so a run that reads the world outside the simulator fails loudly instead of replaying wrong.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { mutations } from './mutations.ts';
import { avoidable, simulate, type Avoidable, type SimConfig, type SimResult } from './simulation.ts';

interface Args {
  seed?: number;
  runs?: number;
  from: number;
  steps?: number;
  nodes?: number;
  mutation?: string;
  avoid: Avoidable[];
  jobs: number;
  calm: boolean;
  trace: boolean;
  keepGoing: boolean;
}

function usage(msg: string): never {
  console.error(`sim: ${msg}\nusage: npm run sim -- --seed S | --runs N [--from S] [--steps N] [--nodes N] [--mutation NAME] [--avoid A,B] [--jobs N] [--calm] [--trace]`);
  console.error(`mutations: ${mutations.map((m) => m.name).join(', ')}`);
  process.exit(2);
}

function parse(argv: string[]): Args {
  const a: Args = { from: 1, jobs: 1, avoid: [], calm: false, trace: false, keepGoing: false };
  const num = (i: number): number => {
    const v = Number(argv[i]);
    if (!Number.isInteger(v) || v < 0) usage(`${argv[i - 1]} needs a whole number, got ${argv[i] ?? 'nothing'}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--seed': a.seed = num(++i); break;
      case '--runs': a.runs = num(++i); break;
      case '--from': a.from = num(++i); break;
      case '--steps': a.steps = num(++i); break;
      case '--nodes': a.nodes = num(++i); break;
      case '--jobs': a.jobs = Math.max(1, num(++i)); break;
      case '--mutation': a.mutation = argv[++i]; break;
      case '--avoid':
        for (const x of (argv[++i] ?? '').split(',')) {
          if (!avoidable.includes(x as Avoidable)) usage(`--avoid takes ${avoidable.join(', ')}; got ${x}`);
          a.avoid.push(x as Avoidable);
        }
        break;
      case '--calm': a.calm = true; break;
      case '--trace': a.trace = true; break;
      case '--keep-going': a.keepGoing = true; break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  if (a.seed === undefined && a.runs === undefined) usage('give --seed or --runs');
  if (a.mutation !== undefined && !mutations.some((m) => m.name === a.mutation)) usage(`no mutation ${a.mutation}`);
  if (a.nodes !== undefined && (a.nodes < 1 || a.nodes > 9)) usage('--nodes must be 1 to 9');
  return a;
}

/** Makes a simulated run fail loudly if anything reads real time or real randomness. */
function guardDeterminism(): void {
  Error.stackTraceLimit = 40;
  const forbid = (what: string) => (): never => {
    throw new Error(`${what} called during a simulation: simulated code must use the injected clock, scheduler and random source`);
  };
  Math.random = forbid('Math.random');
  Date.now = forbid('Date.now');
  globalThis.setTimeout = forbid('setTimeout') as unknown as typeof setTimeout;
  globalThis.setInterval = forbid('setInterval') as unknown as typeof setInterval;
}

function config(a: Args, seed: number): SimConfig {
  return {
    seed,
    ...(a.steps !== undefined ? { steps: a.steps } : {}),
    ...(a.nodes !== undefined ? { nodes: a.nodes } : {}),
    ...(a.mutation !== undefined ? { mutation: a.mutation } : {}),
    ...(a.avoid.length > 0 ? { avoid: a.avoid } : {}),
    calm: a.calm,
    traceAll: a.trace,
  };
}

function firstLine(r: SimResult): string {
  return r.violation === null ? 'ok' : r.violation.message.split('\n')[0]!.slice(0, 300);
}

function report(r: SimResult): void {
  if (r.trace !== null) for (const line of r.trace) console.log(line);
  console.log(`seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'}`);
  console.log(`summary ${JSON.stringify(r.summary)}`);
  console.log(`events ${r.events}, virtual ${r.virtualMs} ms, wall ${r.wallMs} ms`);
  if (r.violation !== null) {
    console.log(`\nviolation at ${r.violation.atMs} ms: ${r.violation.message}\n\nlast events:`);
    for (const line of r.lastEvents) console.log(`  ${line}`);
    console.log('\nnodes at the end:');
    for (const line of r.nodes) console.log(`  ${line}`);
  }
  console.log(`trace hash ${r.traceHash}`);
}

/** A compact result a worker sends back. */
interface Brief {
  seed: number;
  ok: boolean;
  line: string;
  events: number;
  wallMs: number;
  hash: string;
  /** With a mutation: the seed fails without it too (so it does not count as catching it). */
  failsUnmutated?: boolean;
}

const brief = (r: SimResult): Brief => ({ seed: r.seed, ok: r.ok, line: firstLine(r), events: r.events, wallMs: r.wallMs, hash: r.traceHash });

/** Runs one seed; a failure under a mutation is run again without it, to tell the two apart. */
async function runOne(a: Args, seed: number): Promise<Brief> {
  const b = brief(await simulate(config(a, seed)));
  if (!b.ok && a.mutation !== undefined) {
    const plain = await simulate(config({ ...a, mutation: undefined }, seed));
    if (!plain.ok) b.failsUnmutated = true;
  }
  return b;
}

/** A worker thread runs this file too, with tsx's loader registered in it first. */
const workerBoot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
  `.then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;

async function sweep(a: Args): Promise<number> {
  const runs = a.runs!;
  const started = performance.now();
  const failures: Brief[] = [];
  let done = 0;
  let events = 0;
  let next = a.from;
  const end = a.from + runs;
  const stopAtFirst = a.mutation !== undefined && !a.keepGoing;
  let stop = false;
  const take = (b: Brief): void => {
    done++;
    events += b.events;
    if (!b.ok && b.failsUnmutated === true) {
      console.log(`seed ${b.seed} fails without the mutation too (not counted): ${b.line}`);
    } else if (!b.ok) {
      failures.push(b);
      console.log(`seed ${b.seed} FAILED: ${b.line}`);
      if (stopAtFirst) stop = true;
    }
    if (done % 100 === 0) {
      const s = (performance.now() - started) / 1000;
      console.log(`... ${done} runs, ${failures.length} failed, ${s.toFixed(1)} s (${(s * 1000 / done).toFixed(0)} ms/run)`);
    }
  };
  if (a.jobs <= 1) {
    guardDeterminism();
    while (next < end && !stop) take(await runOne(a, next++));
  } else {
    await Promise.all(Array.from({ length: a.jobs }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(workerBoot, { eval: true, workerData: a });
      const feed = (): void => {
        if (next < end && !stop) w.postMessage(next++);
        else void w.terminate().then(() => resolve());
      };
      w.on('message', (b: Brief) => {
        take(b);
        feed();
      });
      w.on('error', reject);
      feed();
    })));
  }
  const secs = (performance.now() - started) / 1000;
  console.log(`\n${done} runs (seeds ${a.from}..${a.from + done - 1}${a.mutation !== undefined ? `, mutation ${a.mutation}` : ''}): ` +
    `${failures.length} failed, ${events} events, ${secs.toFixed(1)} s wall (${(secs * 1000 / Math.max(1, done)).toFixed(0)} ms/run)`);
  if (failures.length > 0) {
    console.log('failing seeds:');
    for (const f of failures.sort((x, y) => x.seed - y.seed)) console.log(`  ${f.seed}: ${f.line}`);
    const flags = [
      a.mutation !== undefined ? `--mutation ${a.mutation}` : '', a.steps !== undefined ? `--steps ${a.steps}` : '',
      a.nodes !== undefined ? `--nodes ${a.nodes}` : '', a.avoid.length > 0 ? `--avoid ${a.avoid.join(',')}` : '',
    ].filter((f) => f !== '').join(' ');
    console.log(`replay one: npm run sim -- --seed ${failures[0]!.seed}${flags === '' ? '' : ` ${flags}`}`);
  }
  return failures.length > 0 ? 1 : 0;
}

if (!isMainThread) {
  const a = workerData as Args;
  guardDeterminism();
  parentPort!.on('message', (seed: number) => {
    void runOne(a, seed).then((b) => parentPort!.postMessage(b));
  });
} else {
  const a = parse(process.argv.slice(2));
  if (a.seed !== undefined && a.runs === undefined) {
    guardDeterminism();
    const r = await simulate(config(a, a.seed));
    report(r);
    process.exitCode = r.ok ? 0 : 1;
  } else {
    process.exitCode = await sweep(a);
  }
}
