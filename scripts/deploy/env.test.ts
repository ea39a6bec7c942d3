import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadEnv, parseArgs, parseDeployEnv } from './env.ts';

const GOOD = {
  MEDPLUM_BASE_URL: 'https://api.example.org',
  MEDPLUM_CLIENT_ID: 'client-1',
  MEDPLUM_CLIENT_SECRET: 'secret-1',
};

describe('parseDeployEnv', () => {
  test('missing variables are all named in one message', () => {
    expect(() => parseDeployEnv({ MEDPLUM_CLIENT_ID: 'x', MEDPLUM_CLIENT_SECRET: ' ' })).toThrow(
      'Missing MEDPLUM_BASE_URL, MEDPLUM_CLIENT_SECRET: set them in the environment or in .env'
    );
  });

  test('a base URL that is not http(s)', () => {
    expect(() => parseDeployEnv({ ...GOOD, MEDPLUM_BASE_URL: 'ftp://x' })).toThrow(
      'MEDPLUM_BASE_URL is not an http(s) URL: ftp://x'
    );
  });

  test('a base URL with credentials in it', () => {
    expect(() => parseDeployEnv({ ...GOOD, MEDPLUM_BASE_URL: 'https://u:p@api.example.org/' })).toThrow(
      'MEDPLUM_BASE_URL must not contain credentials'
    );
  });

  test('a bad app URL list', () => {
    expect(() => parseDeployEnv({ ...GOOD, BASELINE_APP_URL: 'https://a.example, nope' })).toThrow(
      'BASELINE_APP_URL is not a comma-separated list of http(s) URLs: https://a.example, nope'
    );
  });

  test('happy path: trailing slash added, app URLs default to the dev server', () => {
    expect(parseDeployEnv(GOOD)).toEqual({
      baseUrl: 'https://api.example.org/',
      clientId: 'client-1',
      clientSecret: 'secret-1',
      appBaseUrls: ['http://127.0.0.1:3000'],
    });
    expect(
      parseDeployEnv({
        ...GOOD,
        MEDPLUM_BASE_URL: 'http://127.0.0.1:8103///',
        BASELINE_APP_URL: 'https://a.example/, http://b:3000',
      })
    ).toMatchObject({ baseUrl: 'http://127.0.0.1:8103/', appBaseUrls: ['https://a.example', 'http://b:3000'] });
  });

  test('BASELINE_EXPECTED_OWNERS', () => {
    expect(parseDeployEnv({ ...GOOD, BASELINE_EXPECTED_OWNERS: ' 250 ' }).expectedOwners).toBe(250);
    expect(() => parseDeployEnv({ ...GOOD, BASELINE_EXPECTED_OWNERS: 'lots' })).toThrow(
      'BASELINE_EXPECTED_OWNERS must be a whole number of owners from 1 up, got "lots"'
    );
  });
});

describe('parseArgs', () => {
  test('credentials passed as arguments are refused without echoing them', () => {
    expect(() => parseArgs(['--client-secret=hunter2'])).toThrow(
      'Unknown argument: --client-secret (credentials come from the environment or .env, never from arguments)'
    );
  });

  test('flags', () => {
    expect(parseArgs([])).toEqual({ dryRun: false, help: false });
    expect(parseArgs(['--dry-run'])).toEqual({ dryRun: true, help: false });
    expect(parseArgs(['--help'])).toEqual({ dryRun: false, help: true });
    expect(parseArgs(['--owners', '40', '--dry-run'])).toEqual({ dryRun: true, help: false, owners: 40 });
    expect(parseArgs(['--owners=7'])).toEqual({ dryRun: false, help: false, owners: 7 });
  });

  test('--owners without a count', () => {
    expect(() => parseArgs(['--owners'])).toThrow('--owners must be a whole number of owners from 1 up, got ""');
    expect(() => parseArgs(['--owners=0'])).toThrow('--owners must be a whole number of owners from 1 up, got "0"');
  });
});

describe('loadEnv', () => {
  test('.env values apply unless the environment sets them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'deploy-env-'));
    const file = path.join(dir, '.env');
    writeFileSync(file, 'MEDPLUM_BASE_URL=http://from-file/\nMEDPLUM_CLIENT_ID="file-id"\n');
    expect(loadEnv(file, { MEDPLUM_CLIENT_ID: 'env-id' })).toEqual({
      MEDPLUM_BASE_URL: 'http://from-file/',
      MEDPLUM_CLIENT_ID: 'env-id',
    });
  });

  test('no .env file: the environment alone', () => {
    expect(loadEnv('/nonexistent/.env', { A: '1' })).toEqual({ A: '1' });
  });
});
