/**
 * Dates on the Data page's charts. Axis ticks are short ("Mar 5", "5. März") and carry the year only when a reader
 * could otherwise misread them: when the charted range spans two calendar years, or when it is not in the current
 * year. The tooltip always gives the full date and time. Everything goes through Intl.DateTimeFormat, so the order of
 * day and month, the month names and the separators follow the reader's locale.
 */

export interface ChartDateOptions {
  /** BCP 47 locale(s); undefined means the browser's. */
  readonly locale?: string | readonly string[];
  /** IANA time zone; undefined means the browser's. */
  readonly timeZone?: string;
}

export interface ChartDateFormats {
  /** Whether the axis ticks include the year. */
  readonly withYear: boolean;
  /** An axis tick: day and month, plus the year when `withYear`. */
  readonly tick: (time: number) => string;
  /** A tooltip label: the full date with the year, and the time of day. */
  readonly full: (time: number) => string;
}

function yearOf(time: number, timeZone: string | undefined): number {
  // Intl gives the calendar year where the reader is, which Date#getFullYear only does for the local zone.
  const part = new Intl.DateTimeFormat('en-US', { year: 'numeric', timeZone })
    .formatToParts(time)
    .find((p) => p.type === 'year');
  return Number(part?.value);
}

/**
 * @param range - the charted range (ms since epoch): the window's start and end, not only the first and last point,
 *   since the axis spans the whole window.
 * @param now - the current time, which decides what "the current year" is.
 * @param options - locale and time zone (defaults: the browser's).
 * @returns Formatters for axis ticks and tooltips.
 */
export function chartDateFormats(
  range: { readonly start: number; readonly end: number },
  now: Date,
  options: ChartDateOptions = {}
): ChartDateFormats {
  const { timeZone } = options;
  const locale = options.locale === undefined ? undefined : [options.locale].flat();
  const startYear = yearOf(range.start, timeZone);
  const endYear = yearOf(range.end, timeZone);
  const withYear = startYear !== endYear || endYear !== yearOf(now.getTime(), timeZone);
  const tick = new Intl.DateTimeFormat(locale, {
    month: 'short',
    day: 'numeric',
    ...(withYear ? { year: 'numeric' as const } : {}),
    timeZone,
  });
  const full = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone });
  return { withYear, tick: (time) => tick.format(time), full: (time) => full.format(time) };
}

/**
 * Axis ticks for a window of days: at most `maxTicks`, a whole number of days apart, each at local noon (so a
 * daylight-saving shift never moves a tick onto the neighbouring date).
 * @param range - the charted window (ms since epoch).
 * @param maxTicks - the most ticks that fit.
 * @returns Tick times, ascending, all inside the window.
 */
export function dayTicks(range: { readonly start: number; readonly end: number }, maxTicks = 6): number[] {
  const days = Math.max(1, Math.round((range.end - range.start) / 86_400_000));
  const step = Math.max(1, Math.ceil(days / Math.max(1, maxTicks)));
  const first = new Date(range.start);
  first.setHours(12, 0, 0, 0);
  if (first.getTime() < range.start) {
    first.setDate(first.getDate() + 1);
  }
  const ticks: number[] = [];
  for (const day = first; day.getTime() <= range.end && ticks.length < maxTicks; day.setDate(day.getDate() + step)) {
    ticks.push(day.getTime());
  }
  return ticks;
}
