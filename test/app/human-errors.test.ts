/**
 * The human error texts, fed with the messages the bots really produce: built by the bots' own code (checkStateRecord,
 * ProviderHttpError, ProviderClientError, checkRedirectUri) and passed through the same OperationOutcome wrapping the
 * browser sees, so a reworded bot message fails here instead of falling through to the general text.
 */
import { normalizeErrorString, normalizeOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { Basic } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { checkRedirectUri } from '../../bots/connect/redirect.ts';
import { ProviderHttpError } from '../../bots/shared/http.ts';
import type { ProviderHttpErrorInit } from '../../bots/shared/http.ts';
import { readSecret } from '../../bots/shared/secrets.ts';
import { buildStateRecord, checkStateRecord, markStateUsed } from '../../bots/shared/oauth-state.ts';
import { CredentialsExpiredError, ProviderClientError } from '../../bots/shared/tokens.ts';
import {
  describeConnectFailure,
  describeConnectionProblem,
  describeLoadFailure,
  describeProviderRedirectError,
} from '../../app/src/lib/human-errors.ts';
import type { HumanError } from '../../app/src/lib/human-errors.ts';

const patient = { reference: 'Patient/p1' };
const now = new Date('2026-03-01T12:00:00Z');

/** What the app's catch block gets: the bot's error, wrapped by the bot runtime into an OperationOutcome. */
function asSeenByApp(thrower: () => unknown): string {
  try {
    thrower();
  } catch (err) {
    return normalizeErrorString(new OperationOutcomeError(normalizeOperationOutcome(err)));
  }
  throw new Error('expected the bot code to throw');
}

function stateError(record: Basic | undefined, expected: Partial<{ provider: string; patient: string }> = {}): string {
  return asSeenByApp(() =>
    checkStateRecord(record, {
      patient: { reference: expected.patient ?? patient.reference },
      provider: expected.provider ?? 'whoop',
      now,
    })
  );
}

const fresh = buildStateRecord({ hash: 'h', patient, provider: 'whoop', now });

function providerError(init: Omit<ProviderHttpErrorInit, 'provider' | 'endpoint'>): string {
  return asSeenByApp(() => {
    throw new ProviderHttpError({ provider: 'whoop', endpoint: 'POST /oauth/oauth2/token', ...init });
  });
}

/** Words a person should not have to know: the OAuth and HTTP vocabulary the errors arrive in. */
const JARGON = /\b(state|oauth|tokens?|grant|http|resource owner|access_denied|invalid_\w+|redirect|uri|bot)\b/i;

function expectHuman(e: HumanError): void {
  for (const text of [e.title, e.what, e.next]) {
    expect(text).not.toMatch(JARGON);
    expect(text.length).toBeGreaterThan(0);
  }
}

describe('describeProviderRedirectError', () => {
  test('access_denied says nothing was connected and how to allow it, with the code only in the detail', () => {
    const e = describeProviderRedirectError('WHOOP', 'access_denied', 'The resource owner denied the request');
    expect(e).toMatchObject({ title: 'WHOOP was not connected', retry: true });
    expect(e.what).toContain('nothing was connected');
    expect(e.next).toContain('select Allow');
    expect(e.detail).toBe('access_denied: The resource owner denied the request');
    expectHuman(e);
  });

  test.each(['server_error', 'temporarily_unavailable'])('%s is the provider’s problem: try again later', (code) => {
    const e = describeProviderRedirectError('WHOOP', code);
    expect(e.retry).toBe(true);
    expect(e.next).toBe('Try again in a few minutes.');
    expect(e.detail).toBe(code);
    expectHuman(e);
  });

  test.each(['invalid_request', 'invalid_scope', 'unauthorized_client', 'unsupported_response_type'])(
    '%s is a setup problem the owner cannot fix by retrying',
    (code) => {
      const e = describeProviderRedirectError('WHOOP', code);
      expect(e.retry).toBe(false);
      expect(e.title).toBe('Baseline is not set up correctly for WHOOP');
      expectHuman(e);
    }
  );

  test('an unknown code gets the general text and keeps the code as detail', () => {
    const e = describeProviderRedirectError('WHOOP', 'something_new');
    expect(e.title).toBe('WHOOP was not connected');
    expect(e.detail).toBe('something_new');
    expectHuman(e);
  });

  test('a very long description is cut for the detail line', () => {
    const e = describeProviderRedirectError('WHOOP', 'x', 'y'.repeat(1000));
    expect(e.detail?.length).toBe(200);
    expect(e.detail?.endsWith('…')).toBe(true);
  });
});

describe('describeConnectFailure, with the messages the bots throw', () => {
  const cases: { name: string; message: () => string; title: string; retry: boolean }[] = [
    {
      name: 'a replayed callback',
      message: () => stateError(markStateUsed(fresh)),
      title: 'This connection link was already used',
      retry: true,
    },
    {
      name: 'an expired state',
      message: () => stateError(buildStateRecord({ hash: 'h', patient, provider: 'whoop', now: new Date(0) })),
      title: 'The connection took too long',
      retry: true,
    },
    {
      name: 'an unknown state',
      message: () => stateError(undefined),
      title: 'Baseline did not start this connection',
      retry: true,
    },
    {
      name: "another patient's state",
      message: () => stateError(fresh, { patient: 'Patient/p2' }),
      title: 'This connection was started by someone else',
      retry: true,
    },
    {
      name: "another provider's state",
      message: () => stateError(fresh, { provider: 'oura' }),
      title: 'This link is not from WHOOP',
      retry: true,
    },
    {
      name: 'a refused code (invalid_grant)',
      message: () => providerError({ kind: 'unauthorized', status: 400, oauthError: 'invalid_grant' }),
      title: 'WHOOP did not accept the sign-in',
      retry: true,
    },
    {
      name: 'wrong client credentials',
      message: () =>
        asSeenByApp(() => {
          throw new ProviderClientError('whoop', 'invalid_client');
        }),
      title: 'Baseline is not set up correctly for WHOOP',
      retry: false,
    },
    {
      name: 'an app address the deployment does not allow',
      message: () =>
        asSeenByApp(() => checkRedirectUri({}, 'whoop', 'https://elsewhere.example/connect/whoop/callback')),
      title: 'Baseline is not set up correctly for WHOOP',
      retry: false,
    },
    {
      name: 'a provider secret not set (connect-start, connect-callback)',
      message: () =>
        asSeenByApp(() => {
          readSecret({}, 'WHOOP_CLIENT_ID');
        }),
      title: 'Baseline is not set up correctly for WHOOP',
      retry: false,
    },
    {
      name: 'a provider 502',
      message: () => providerError({ kind: 'server', status: 502 }),
      title: 'WHOOP is having problems',
      retry: true,
    },
    {
      name: 'a provider timeout',
      message: () => providerError({ kind: 'timeout' }),
      title: 'WHOOP did not answer in time',
      retry: true,
    },
    {
      name: 'the provider out of reach of the server',
      message: () => providerError({ kind: 'network' }),
      title: 'Baseline could not reach WHOOP',
      retry: true,
    },
    {
      name: 'the provider rate-limiting',
      message: () => providerError({ kind: 'rate-limited', status: 429, retryAfterSeconds: 30 }),
      title: 'Too many attempts',
      retry: true,
    },
    {
      name: 'an erase still running (connect-callback.ts)',
      message: () => 'Erasing your earlier WHOOP data is still in progress; connect again when it has finished',
      title: 'Your earlier WHOOP data is still being erased',
      retry: false,
    },
    {
      name: 'the browser offline (Chromium)',
      message: () => normalizeErrorString(new TypeError('Failed to fetch')),
      title: 'Baseline could not be reached',
      retry: true,
    },
    {
      name: 'the browser offline (Firefox)',
      message: () => 'NetworkError when attempting to fetch resource.',
      title: 'Baseline could not be reached',
      retry: true,
    },
  ];

  test.each(cases)('$name', ({ message, title, retry }) => {
    const text = message();
    const e = describeConnectFailure('WHOOP', text);
    expect(e.title).toBe(title);
    expect(e.retry).toBe(retry);
    // The technical message stays available, word for word, for support.
    expect(e.detail).toBe(text);
    expectHuman(e);
  });

  test('the replayed callback is the message connect-callback throws and the OAuth state check words', () => {
    // connect-callback.ts throws this literal when the versioned "mark used" write loses a race.
    expect(stateError(markStateUsed(fresh))).toBe('State already used');
  });

  test('an unrecognised message gets the general text, with the message as detail', () => {
    const e = describeConnectFailure('WHOOP', 'The connect-callback bot returned an unexpected response: x');
    expect(e.title).toBe('Could not finish connecting WHOOP');
    expect(e.detail).toBe('The connect-callback bot returned an unexpected response: x');
    expectHuman(e);
  });
});

describe('describeConnectionProblem', () => {
  test.each([
    ['whoop refused the token refresh', "WHOOP stopped accepting Baseline's access"],
    ['No refresh token stored', "WHOOP stopped accepting Baseline's access"],
    [new CredentialsExpiredError('whoop').message, "WHOOP stopped accepting Baseline's access"],
    ['Access could not be revoked at the provider; disconnect again to retry', 'WHOOP did not confirm the disconnect'],
    ['This WHOOP account was linked to another Baseline user', 'Your WHOOP account was connected by someone else'],
    [new ProviderClientError('whoop', 'invalid_client').message, 'Baseline is not set up correctly for WHOOP'],
    ['whoop GET /v2/cycle failed: HTTP 503 (server)', 'The last WHOOP sync ran into a problem'],
  ])('%s', (lastError, title) => {
    const e = describeConnectionProblem('WHOOP', lastError);
    expect(e.title).toBe(title);
    expect(e.detail).toBe(lastError);
    expectHuman(e);
  });
});

describe('describeLoadFailure', () => {
  test('offline', () => {
    expect(describeLoadFailure('Failed to fetch').title).toBe('Baseline could not be reached');
  });

  test('anything else', () => {
    const e = describeLoadFailure('Forbidden');
    expect(e.title).toBe('Your connections could not be loaded');
    expect(e.detail).toBe('Forbidden');
    expectHuman(e);
  });
});
