/**
 * Five-field cron matching (minute hour day-of-month month day-of-week) for `Bot.cronString`, evaluated in UTC once
 * a minute — enough to run Baseline's sweeper bots the way Medplum's BullMQ job scheduler does.
 */

interface Field {
  min: number;
  max: number;
}
const FIELDS: Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12 },
  { min: 0, max: 7 },
];

export type CronSchedule = Set<number>[];

/** Parses a cron string; throws `Invalid cron string "<s>": <reason>` on anything it cannot honour exactly. */
export function parseCron(cron: string): CronSchedule {
  const parts = cron.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new Error(`Invalid cron string "${cron}": expected 5 fields, got ${parts.length}`);
  }
  return parts.map((part, i) => {
    const field = FIELDS[i] as Field;
    const values = new Set<number>();
    for (const item of part.split(',')) {
      const [range, stepText] = item.split('/') as [string, string | undefined];
      const step = stepText === undefined ? 1 : Number(stepText);
      if (!Number.isInteger(step) || step < 1) {
        throw new Error(`Invalid cron string "${cron}": bad step "${item}"`);
      }
      let lo: number;
      let hi: number;
      if (range === '*') {
        lo = field.min;
        hi = field.max;
      } else if (range.includes('-')) {
        [lo, hi] = range.split('-').map(Number) as [number, number];
      } else {
        lo = Number(range);
        hi = stepText === undefined ? lo : field.max;
      }
      if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < field.min || hi > field.max || lo > hi) {
        throw new Error(`Invalid cron string "${cron}": "${item}" is out of range ${field.min}-${field.max}`);
      }
      for (let v = lo; v <= hi; v += step) {
        values.add(i === 4 && v === 7 ? 0 : v);
      }
    }
    return values;
  });
}

export function cronMatches(schedule: CronSchedule, date: Date): boolean {
  const [minute, hour, dom, month, dow] = schedule as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  return (
    minute.has(date.getUTCMinutes()) &&
    hour.has(date.getUTCHours()) &&
    dom.has(date.getUTCDate()) &&
    month.has(date.getUTCMonth() + 1) &&
    dow.has(date.getUTCDay())
  );
}
