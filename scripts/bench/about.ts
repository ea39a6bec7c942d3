/**
 * What every benchmark prints first and last: how long it will take (so nobody kills it at minute two) and where and
 * when its figures were taken (so a README figure can be traced to a run).
 */
import { cpus, totalmem } from 'node:os';

/** e.g. "2026-12-06 02:10 UTC · 2 × Intel Xeon … · 24 GiB · Node v24.21.0". */
export function machineLine(now = new Date()): string {
  const cpu = cpus();
  const model = (cpu[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim();
  const when = now.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  return `${when} · ${cpu.length} × ${model} · ${Math.round(totalmem() / 2 ** 30)} GiB · Node ${process.version}`;
}

/**
 * @param name - the npm script, e.g. "bench:whoop"
 * @param takes - how long it takes on the reference 2-core machine, in words
 */
export function announce(name: string, takes: string): void {
  console.log(`${name} — takes ${takes} on a 2-core machine`);
  console.log(`  ${machineLine()}`);
}
