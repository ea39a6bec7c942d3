import { describe, expect, test } from 'vitest';
import { readOptionalSecret, readSecret } from './secrets.ts';

const secrets = {
  WHOOP_CLIENT_ID: { name: 'WHOOP_CLIENT_ID', valueString: 'client-123' },
  BLANK: { name: 'BLANK', valueString: '   ' },
  NUMERIC: { name: 'NUMERIC', valueDecimal: 4 },
};

describe('readSecret', () => {
  test('Missing project secret <NAME> for an absent secret, without any value in the message', () => {
    expect(() => readSecret(secrets, 'WHOOP_CLIENT_SECRET')).toThrow(/^Missing project secret WHOOP_CLIENT_SECRET$/);
  });
  test('a blank or non-string secret counts as missing', () => {
    expect(() => readSecret(secrets, 'BLANK')).toThrow('Missing project secret BLANK');
    expect(() => readSecret(secrets, 'NUMERIC')).toThrow('Missing project secret NUMERIC');
  });
  test('no secrets at all', () => {
    expect(() => readSecret(undefined, 'X')).toThrow('Missing project secret X');
  });
  test('reads the value', () => {
    expect(readSecret(secrets, 'WHOOP_CLIENT_ID')).toBe('client-123');
  });
});

describe('readOptionalSecret', () => {
  test('undefined when absent or blank, the value otherwise', () => {
    expect(readOptionalSecret(secrets, 'WHOOP_API_BASE_URL')).toBeUndefined();
    expect(readOptionalSecret(secrets, 'BLANK')).toBeUndefined();
    expect(readOptionalSecret(secrets, 'WHOOP_CLIENT_ID')).toBe('client-123');
  });
});
