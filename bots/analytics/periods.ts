/**
 * The periods a narrative describes (issue 8 §4): ISO weeks (Monday–Sunday) and calendar months, as owner-local days.
 *
 * - Days are owner-local 'YYYY-MM-DD' strings, the same days the daily series is keyed by (bots/analytics/daily.ts
 *   reads each value's day in the offset it was recorded in), so "the owner's zone" needs no zone database here.
 * - A narrative describes the most recent COMPLETE period before the reference day, never the one still running: the
 *   reference day is "today", and today's values are not in yet (tonight's sleep belongs to tomorrow, steps keep
 *   accruing), so a week or month that contains it would compare a part with a whole and change every time it is
 *   recomputed. On a Monday the week that ended yesterday is narrated; on the 1st, the month that ended yesterday.
 * - The prior period is the one just before, of equal length for weeks (7 days). Calendar months differ in length
 *   (28–31 days), so a month is compared with the previous calendar month by per-day means, never by sums: a mean
 *   over 28 days and one over 31 are directly comparable, a total is not.
 *
 * Pure: integer day arithmetic only (stats.ts dayIndex / dayFromIndex), no Date, no Node built-ins.
 */
import { dayFromIndex, dayIndex } from './stats.ts';

export type PeriodKind = 'week' | 'month';

export interface Period {
  readonly kind: PeriodKind;
  /** First day, owner-local 'YYYY-MM-DD' (a Monday for a week, the 1st for a month). */
  readonly start: string;
  /** Last day, inclusive (a Sunday for a week, the month's last day for a month). */
  readonly end: string;
  /** Calendar days in the period: 7 for a week, 28–31 for a month. */
  readonly days: number;
  /** ISO week ('2026-W45') or month ('2026-11'). */
  readonly label: string;
}

/** @returns ISO weekday of a day: 1 = Monday … 7 = Sunday */
export function isoWeekday(day: string): number {
  // dayIndex 0 is 1970-01-01, a Thursday (ISO 4).
  return ((((dayIndex(day) + 3) % 7) + 7) % 7) + 1;
}

/** @returns the ISO week-numbering year and week (1–53) of a day: the week belongs to the year of its Thursday */
export function isoWeek(day: string): { readonly year: number; readonly week: number } {
  const index = dayIndex(day);
  const thursday = index - isoWeekday(day) + 4;
  const year = Number(dayFromIndex(thursday).slice(0, 4));
  const firstOfYear = dayIndex(`${String(year).padStart(4, '0')}-01-01`);
  return { year, week: Math.floor((thursday - firstOfYear) / 7) + 1 };
}

/** @returns the ISO week (Monday to Sunday) containing the day */
export function weekContaining(day: string): Period {
  const monday = dayIndex(day) - isoWeekday(day) + 1;
  const { year, week } = isoWeek(day);
  return {
    kind: 'week',
    start: dayFromIndex(monday),
    end: dayFromIndex(monday + 6),
    days: 7,
    label: `${String(year).padStart(4, '0')}-W${String(week).padStart(2, '0')}`,
  };
}

/** @returns the calendar month containing the day */
export function monthContaining(day: string): Period {
  dayIndex(day);
  const month = day.slice(0, 7);
  const start = dayIndex(`${month}-01`);
  const [y, m] = [Number(day.slice(0, 4)), Number(day.slice(5, 7))];
  const next =
    m === 12 ? `${String(y + 1).padStart(4, '0')}-01-01` : `${day.slice(0, 5)}${String(m + 1).padStart(2, '0')}-01`;
  const end = dayIndex(next) - 1;
  return { kind: 'month', start: dayFromIndex(start), end: dayFromIndex(end), days: end - start + 1, label: month };
}

/** @returns the week or month containing the day */
export function periodContaining(kind: PeriodKind, day: string): Period {
  return kind === 'week' ? weekContaining(day) : monthContaining(day);
}

/** @returns the period just before: the previous ISO week, or the previous calendar month */
export function priorPeriod(period: Period): Period {
  return periodContaining(period.kind, dayFromIndex(dayIndex(period.start) - 1));
}

/**
 * @param kind - week or month
 * @param referenceDay - owner-local "today" (itself still in progress)
 * @returns the most recent period that ended before the reference day
 */
export function lastCompletePeriod(kind: PeriodKind, referenceDay: string): Period {
  return priorPeriod(periodContaining(kind, referenceDay));
}

/** @returns every day of the period, ascending */
export function periodDays(period: Pick<Period, 'start' | 'end'>): string[] {
  const out: string[] = [];
  for (let i = dayIndex(period.start), end = dayIndex(period.end); i <= end; i++) {
    out.push(dayFromIndex(i));
  }
  return out;
}

/** @returns true when the day lies in the period (bounds inclusive) */
export function inPeriod(day: string, period: Pick<Period, 'start' | 'end'>): boolean {
  // 'YYYY-MM-DD' strings order like the days they name.
  return day >= period.start && day <= period.end;
}
