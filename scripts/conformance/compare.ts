/**
 * Compares a run with a recording, answer by answer (by position and name: the sequence is fixed).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Exchange } from './suite.ts';

export interface Difference {
  name: string;
  /** Where the two answers first differ, e.g. `status` or `body.issue[0].details.text`. */
  path: string;
  expected: unknown;
  actual: unknown;
}

export interface Comparison {
  identical: number;
  total: number;
  differences: Difference[];
}

function firstDifference(expected: unknown, actual: unknown, path: string): Omit<Difference, 'name'> | undefined {
  if (isDeepStrictEqual(expected, actual)) {
    return undefined;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length) {
      return { path: `${path}.length`, expected, actual };
    }
    for (let i = 0; i < expected.length; i++) {
      const d = firstDifference(expected[i], actual[i], `${path}[${i}]`);
      if (d) {
        return d;
      }
    }
  } else if (expected && actual && typeof expected === 'object' && typeof actual === 'object') {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const key of keys) {
      const d = firstDifference(
        (expected as Record<string, unknown>)[key],
        (actual as Record<string, unknown>)[key],
        path ? `${path}.${key}` : key
      );
      if (d) {
        return d;
      }
    }
  }
  return { path: path || '(whole)', expected, actual };
}

/** As stored in a recording: keys holding `undefined` are dropped, exactly as JSON.stringify does. */
function asRecorded(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
}

export function compare(expectedRun: readonly Exchange[], actualRun: readonly Exchange[]): Comparison {
  const expected = asRecorded(expectedRun) as Exchange[];
  const actual = asRecorded(actualRun) as Exchange[];
  const differences: Difference[] = [];
  const total = Math.max(expected.length, actual.length);
  let identical = 0;
  for (let i = 0; i < total; i++) {
    const e = expected[i];
    const a = actual[i];
    const name = e?.name ?? a?.name ?? `#${i}`;
    const d = firstDifference(e, a, '');
    if (d) {
      differences.push({ name, ...d });
    } else {
      identical++;
    }
  }
  return { identical, total, differences };
}

/** One line per difference, values cut to a readable length. */
export function formatDifferences(differences: readonly Difference[], width = 300): string[] {
  const show = (v: unknown): string => {
    const text = v === undefined ? '(absent)' : JSON.stringify(v);
    return text.length > width ? text.slice(0, width) + '…' : text;
  };
  return differences.map(
    (d) => `- ${d.name} @ ${d.path}\n    expected ${show(d.expected)}\n    actual   ${show(d.actual)}`
  );
}
