import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  BASIC_TYPE_SYSTEM,
  CONNECTION_EXTENSION,
  OAUTH_STATE_EXTENSION,
  OAUTH_STATE_IDENTIFIER_SYSTEM,
} from './extensions.ts';
import {
  OAUTH_STATE_CRITERIA,
  buildStateRecord,
  checkStateRecord,
  hashState,
  markStateUsed,
  mintState,
} from './oauth-state.ts';

const now = new Date('2026-11-21T12:00:00.000Z');
const patient = { reference: 'Patient/p1' as const };

describe('mintState', () => {
  test('at least 32 url-safe characters, random, hashed with sha256 hex', () => {
    const a = mintState();
    const b = mintState();
    expect(a.state).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(a.state).not.toBe(b.state);
    expect(a.hash).toBe(createHash('sha256').update(a.state).digest('hex'));
    expect(hashState(a.state)).toBe(a.hash);
  });
});

describe('buildStateRecord / checkStateRecord', () => {
  const { state, hash } = mintState();
  const record = buildStateRecord({ hash, patient, provider: 'whoop', now });
  const expected = { patient, provider: 'whoop', now: new Date(now.getTime() + 60_000) };

  test('the record stores the hash, never the state, and expires after 10 minutes', () => {
    expect(record).toMatchObject({
      resourceType: 'Basic',
      code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: 'oauth-state' }] },
      subject: patient,
      identifier: [{ system: OAUTH_STATE_IDENTIFIER_SYSTEM, value: hash }],
    });
    expect(JSON.stringify(record)).not.toContain(state);
    expect(record.extension).toEqual([
      { url: CONNECTION_EXTENSION.provider, valueCode: 'whoop' },
      { url: OAUTH_STATE_EXTENSION.expires, valueDateTime: '2026-11-21T12:10:00.000Z' },
      { url: OAUTH_STATE_EXTENSION.used, valueBoolean: false },
    ]);
    expect(OAUTH_STATE_CRITERIA).toBe(`Basic?code=${BASIC_TYPE_SYSTEM}|oauth-state`);
  });

  test('Unknown state', () => {
    expect(() => checkStateRecord(undefined, expected)).toThrow(/^Unknown state$/);
    expect(() => checkStateRecord({ ...record, code: { text: 'other' } }, expected)).toThrow(/^Unknown state$/);
  });
  test('Expired state', () => {
    expect(() => checkStateRecord(record, { ...expected, now: new Date('2026-11-21T12:10:00.000Z') })).toThrow(
      /^Expired state$/
    );
  });
  test('State already used', () => {
    expect(() => checkStateRecord(markStateUsed(record), expected)).toThrow(/^State already used$/);
  });
  test('State belongs to another patient (checked before use and expiry)', () => {
    const other = { ...expected, patient: { reference: 'Patient/p2' as const } };
    expect(() => checkStateRecord(markStateUsed(record), other)).toThrow(/^State belongs to another patient$/);
  });
  test('State was issued for another provider', () => {
    expect(() => checkStateRecord(record, { ...expected, provider: 'oura' })).toThrow(
      /^State was issued for another provider$/
    );
  });
  test('a fresh record for the right patient and provider passes', () => {
    expect(() => checkStateRecord(record, expected)).not.toThrow();
  });
});
