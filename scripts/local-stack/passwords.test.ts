import { describe, expect, test } from 'vitest';
import { hashPassword, safeEqual, verifyPassword } from './passwords.ts';

describe('passwords', () => {
  test('a hash verifies only its own password', () => {
    const hash = hashPassword('correct horse');
    expect(hash.startsWith('scrypt$')).toBe(true);
    expect(verifyPassword('correct horse', hash)).toBe(true);
    expect(verifyPassword('wrong horse', hash)).toBe(false);
  });

  test('a missing or malformed stored hash never verifies', () => {
    expect(verifyPassword('x', undefined)).toBe(false);
    expect(verifyPassword('x', 'plain-text')).toBe(false);
  });

  test('safeEqual compares exactly', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});
