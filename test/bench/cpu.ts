/**
 * CPU used during a measured window, as a percentage of one core (this machine has two, so
 * 200 % is everything): the server's from /proc/<pid>/stat (utime + stime, all its threads,
 * LevelDB's included), the load generator's (this process) from process.cpuUsage(), and
 * everything else on the machine (other processes: the machine is shared) from /proc/stat.
 * Which is near a full core says who bounds a workload; a large `otherCpuPct` says the run was
 * disturbed and its numbers are low.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_SEC = 100;

function serverCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which is in parentheses and may hold spaces): state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SEC;
}

/** Busy time of the whole machine (all cores), from the first line of /proc/stat. */
function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / TICKS_PER_SEC;
}

export interface CpuReading {
  /** The server's, or with a cluster every member's together. */
  serverCpuPct?: number;
  /** With a cluster: the busiest member's (the leader's, mostly). */
  busiestServerCpuPct?: number;
  loadCpuPct: number;
  /** Everything else on the machine over the same window (other processes, the kernel). */
  otherCpuPct: number;
}

export class CpuMeter {
  private constructor(
    private readonly pids: readonly number[],
    private readonly wall: number,
    private readonly server: readonly number[],
    private readonly load: NodeJS.CpuUsage,
    private readonly busy: number,
  ) {}

  /** Starts measuring; no `serverPids` (a server given by --url) measures this process only. */
  static start(serverPids: readonly number[]): CpuMeter {
    return new CpuMeter(serverPids, performance.now(), serverPids.map(serverCpuMs), process.cpuUsage(), machineBusyMs());
  }

  read(): CpuReading {
    const wall = performance.now() - this.wall;
    const load = process.cpuUsage(this.load);
    const loadCpuPct = (100 * (load.user + load.system) / 1000) / wall;
    const busyPct = (100 * (machineBusyMs() - this.busy)) / wall;
    if (this.pids.length === 0) return { loadCpuPct, otherCpuPct: Math.max(0, busyPct - loadCpuPct) };
    const each = this.pids.map((pid, i) => (100 * (serverCpuMs(pid) - this.server[i]!)) / wall);
    const serverCpuPct = each.reduce((a, b) => a + b, 0);
    return {
      serverCpuPct,
      ...(each.length > 1 ? { busiestServerCpuPct: Math.max(...each) } : {}),
      loadCpuPct,
      otherCpuPct: Math.max(0, busyPct - loadCpuPct - serverCpuPct),
    };
  }
}
