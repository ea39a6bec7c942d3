import { describe, expect, test } from 'vitest';
import { identifierQuery, summarizeFailures } from './fhir-batch.ts';

describe('identifierQuery', () => {
  test('encodes system|value for conditional URLs and searches', () => {
    expect(identifierQuery({ system: 'https://x.test/id', value: 'a:b c' })).toBe(
      'identifier=https%3A%2F%2Fx.test%2Fid%7Ca%3Ab+c'
    );
  });
});

describe('summarizeFailures', () => {
  test('names the count, the total and the first three failures', () => {
    const failure = (value: string) => ({ identifier: { system: 's', value }, status: '400', message: 'Invalid' });
    expect(
      summarizeFailures({
        created: 5,
        updated: 1,
        unchanged: 0,
        failures: [failure('a'), failure('b'), failure('c'), failure('d')],
      })
    ).toBe('4 of 10 writes failed: 400 a: Invalid; 400 b: Invalid; 400 c: Invalid');
  });
});
