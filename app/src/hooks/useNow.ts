import { useEffect, useState } from 'react';

/**
 * The current time, refreshed on an interval, so "5 minutes ago" does not freeze while the page stays open.
 * @param intervalMs - how often to refresh.
 * @returns The current time.
 */
export function useNow(intervalMs = 30_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const id = window.setInterval(() => setNow(new Date()), intervalMs);
    return () => window.clearInterval(id);
  }, [intervalMs]);
  return now;
}
