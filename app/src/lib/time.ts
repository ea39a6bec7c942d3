/**
 * Times as people read them: "5 minutes ago" on the page, the exact date and time on hover. The locale is a
 * parameter (default: the browser's) so tests pin it; `now` is a parameter so the output is deterministic.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * @param then - the moment to describe.
 * @param now - the current time.
 * @param locale - BCP 47 locale; undefined means the browser's.
 * @returns e.g. `just now`, `5 minutes ago`, `yesterday`, `3 months ago`.
 */
export function formatRelativeTime(then: Date, now: Date, locale?: string): string {
  const diff = then.getTime() - now.getTime();
  const abs = Math.abs(diff);
  // Under a minute either way (including small clock skew between server and browser) is "just now".
  if (abs < MINUTE) {
    return 'just now';
  }
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const sign = diff < 0 ? -1 : 1;
  // Rounded, not truncated: 2 days 23 hours is "3 days ago"; each unit hands over once it would read 60 / 24 / ...
  const minutes = Math.round(abs / MINUTE);
  if (minutes < 60) {
    return rtf.format(sign * minutes, 'minute');
  }
  const hours = Math.round(abs / HOUR);
  if (hours < 24) {
    return rtf.format(sign * hours, 'hour');
  }
  const days = Math.round(abs / DAY);
  if (days < 30) {
    return rtf.format(sign * days, 'day');
  }
  const months = Math.round(abs / (30 * DAY));
  if (months < 12) {
    return rtf.format(sign * months, 'month');
  }
  return rtf.format(sign * Math.max(1, Math.round(abs / (365 * DAY))), 'year');
}

/**
 * @param when - the moment.
 * @param locale - BCP 47 locale; undefined means the browser's.
 * @returns Date and time, e.g. `Mar 3, 2026, 7:14 AM`.
 */
export function formatDateTime(when: Date, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(when);
}

/**
 * @param when - the moment.
 * @param locale - BCP 47 locale; undefined means the browser's.
 * @returns The date only, e.g. `Mar 3, 2026`.
 */
export function formatDate(when: Date, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(when);
}
