/**
 * Errors as a person reads them. The connect flow fails in OAuth's and the bots' vocabulary (`access_denied`, `State
 * already used`, `HTTP 502 (server)`); the owner needs to know what happened and what to do about it. Each function
 * here turns one source of errors into a title, a sentence on what happened, one on what to do next, whether trying
 * again can help, and the original code or message for a small detail line (it is what support will ask for).
 *
 * The bot messages matched here are the ones the bots throw (bots/shared/oauth-state.ts checkStateRecord,
 * bots/connect/connect-callback.ts, bots/shared/http.ts ProviderHttpError, bots/shared/tokens.ts); the unit tests
 * build them from those modules, so a reworded bot message shows up as a failing test rather than a generic text.
 */

export interface HumanError {
  /** What happened, as a heading. */
  readonly title: string;
  /** What happened, in plain words. */
  readonly what: string;
  /** What to do next. */
  readonly next: string;
  /** Whether the owner trying again can help; false when only whoever runs Baseline can fix it. */
  readonly retry: boolean;
  /** The technical code or message, for a small detail line; never the main text. */
  readonly detail: string | undefined;
}

const MAX_DETAIL_CHARS = 200;

function detailOf(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  if (!trimmed) {
    return undefined;
  }
  return trimmed.length > MAX_DETAIL_CHARS ? `${trimmed.slice(0, MAX_DETAIL_CHARS - 1)}…` : trimmed;
}

function operatorProblem(provider: string, detail: string | undefined, what: string): HumanError {
  return {
    title: `Baseline is not set up correctly for ${provider}`,
    what: `${what} This is not something you did, and nobody can connect ${provider} until it is fixed.`,
    next: `Please tell whoever runs your Baseline; trying again will not help until they have fixed the setup.`,
    retry: false,
    detail,
  };
}

/**
 * What the provider's consent page sent back instead of a code (RFC 6749 §4.1.2.1 `error`, `error_description`).
 * @param provider - the provider's display name, e.g. `WHOOP`.
 * @param error - the `error` parameter.
 * @param description - the `error_description` parameter, if any; written for developers, so only in the detail.
 * @returns The human error.
 */
export function describeProviderRedirectError(
  provider: string,
  error: string,
  description?: string | undefined
): HumanError {
  const detail = detailOf(description ? `${error}: ${description}` : error);
  switch (error) {
    case 'access_denied':
      return {
        title: `${provider} was not connected`,
        what: `Access was not allowed on ${provider}'s page, so nothing was connected and nothing was imported.`,
        next: `If you want Baseline to import your ${provider} data, choose Try again and select Allow on ${provider}'s page.`,
        retry: true,
        detail,
      };
    case 'server_error':
      return {
        title: `${provider} had a problem`,
        what: `Something went wrong on ${provider}'s side while you were giving access, so nothing was connected.`,
        next: 'Try again in a few minutes.',
        retry: true,
        detail,
      };
    case 'temporarily_unavailable':
      return {
        title: `${provider} is busy right now`,
        what: `${provider} could not handle the request just now (it may be busy or down for maintenance), so nothing was connected.`,
        next: 'Try again in a few minutes.',
        retry: true,
        detail,
      };
    case 'invalid_request':
    case 'invalid_scope':
    case 'unauthorized_client':
    case 'unsupported_response_type':
    case 'invalid_client':
      return operatorProblem(provider, detail, `${provider} refused Baseline's request for access.`);
    default:
      return {
        title: `${provider} was not connected`,
        what: `${provider} sent you back to Baseline without giving access, so nothing was connected.`,
        next: `Try again. If it keeps happening, tell whoever runs your Baseline and mention the detail below.`,
        retry: true,
        detail,
      };
  }
}

interface Rule {
  readonly pattern: RegExp;
  readonly describe: (provider: string, detail: string | undefined) => HumanError;
}

/** The browser's own request failing (Chromium, Firefox, Safari wordings): Baseline itself was out of reach. */
const BROWSER_OFFLINE: Rule = {
  pattern: /failed to fetch|networkerror|load failed|network request failed/i,
  describe: (_provider, detail) => ({
    title: 'Baseline could not be reached',
    what: 'Your browser could not reach the Baseline server — you may be offline, or the server may be down.',
    next: 'Check your internet connection, then try again.',
    retry: true,
    detail,
  }),
};

const startAgain = (provider: string): string => `Choose Try again to connect ${provider} from the start.`;

/** Failures of the connect-callback bot (checked in order; the first match wins). */
const CONNECT_RULES: readonly Rule[] = [
  {
    pattern: /state already used/i,
    describe: (provider, detail) => ({
      title: 'This connection link was already used',
      what: `The link back from ${provider} works only once, and it has been used already — usually by reloading the page or going back to it.`,
      next: `If the Connections page does not show ${provider} as connected, choose Try again to connect it from the start.`,
      retry: true,
      detail,
    }),
  },
  {
    pattern: /expired state/i,
    describe: (provider, detail) => ({
      title: 'The connection took too long',
      what: `Baseline waits 10 minutes for ${provider} to send you back, and this time it took longer, so nothing was connected.`,
      next: startAgain(provider),
      retry: true,
      detail,
    }),
  },
  {
    pattern: /unknown state/i,
    describe: (provider, detail) => ({
      title: 'Baseline did not start this connection',
      what: `This link back from ${provider} does not belong to a connection started here — it may have been started in another browser or on another Baseline, or copied from somewhere else. Nothing was connected.`,
      next: startAgain(provider),
      retry: true,
      detail,
    }),
  },
  {
    pattern: /state belongs to another patient/i,
    describe: (provider, detail) => ({
      title: 'This connection was started by someone else',
      what: `The link back from ${provider} belongs to a connection started while a different person was signed in to Baseline, so it was not used for your account.`,
      next: `Make sure you are signed in as yourself, then connect ${provider} again.`,
      retry: true,
      detail,
    }),
  },
  {
    pattern: /state was issued for another provider/i,
    describe: (provider, detail) => ({
      title: `This link is not from ${provider}`,
      what: `The link back to Baseline was started for a different device maker than ${provider}, so nothing was connected.`,
      next: startAgain(provider),
      retry: true,
      detail,
    }),
  },
  {
    pattern: /erasing your earlier .* still in progress/i,
    describe: (provider, detail) => ({
      title: `Your earlier ${provider} data is still being erased`,
      what: `Connecting now would import data that the running erase would then delete, so Baseline waited.`,
      next: `Wait until the Connections page says the erase has finished, then connect ${provider} again.`,
      retry: false,
      detail,
    }),
  },
  {
    pattern: /client credentials|invalid_client|unauthorized_client/i,
    describe: (provider, detail) =>
      operatorProblem(provider, detail, `${provider} does not recognise this Baseline installation.`),
  },
  {
    pattern: /missing project secret/i,
    describe: (provider, detail) =>
      operatorProblem(provider, detail, `This Baseline installation has not been given its ${provider} settings yet.`),
  },
  {
    pattern: /redirect uri is not allowed/i,
    describe: (provider, detail) =>
      operatorProblem(provider, detail, `This Baseline address is not registered for ${provider} connections.`),
  },
  {
    pattern: /invalid_grant/i,
    describe: (provider, detail) => ({
      title: `${provider} did not accept the sign-in`,
      what: `${provider} turned down the one-time code it gave Baseline (it may have expired or been used already), so nothing was connected.`,
      next: `${startAgain(provider)} If it keeps happening, sign out of ${provider} on its page first.`,
      retry: true,
      detail,
    }),
  },
  {
    pattern: /\(rate-limited\)|HTTP 429|too many requests/i,
    describe: (provider, detail) => ({
      title: 'Too many attempts',
      what: `${provider} or Baseline is limiting how many requests it takes at once, so this one was turned away.`,
      next: 'Wait a minute, then try again.',
      retry: true,
      detail,
    }),
  },
  {
    pattern: /HTTP 5\d\d|\(server\)/i,
    describe: (provider, detail) => ({
      title: `${provider} is having problems`,
      what: `${provider}'s servers answered with an error, so the connection could not be finished.`,
      next: 'Try again in a few minutes.',
      retry: true,
      detail,
    }),
  },
  {
    pattern: /failed: timeout|timed out/i,
    describe: (provider, detail) => ({
      title: `${provider} did not answer in time`,
      what: `Baseline waited for ${provider}, but it did not answer, so the connection could not be finished.`,
      next: 'Try again in a few minutes.',
      retry: true,
      detail,
    }),
  },
  {
    // A provider call that never got an answer (bots/shared/http.ts kind `network`): Baseline's server, not the browser.
    pattern: /failed: network/i,
    describe: (provider, detail) => ({
      title: `Baseline could not reach ${provider}`,
      what: `Baseline's server could not reach ${provider}, so the connection could not be finished.`,
      next: `Try again in a few minutes. If it keeps happening, tell whoever runs your Baseline.`,
      retry: true,
      detail,
    }),
  },
  BROWSER_OFFLINE,
];

/**
 * Why connect-callback (or the request to it) failed.
 * @param provider - the provider's display name.
 * @param message - the error's normalized text (the bot's own message, or the browser's network error).
 * @returns The human error; an unrecognised message gets a general text with the message as the detail.
 */
export function describeConnectFailure(provider: string, message: string): HumanError {
  const detail = detailOf(message);
  const rule = CONNECT_RULES.find((r) => r.pattern.test(message));
  if (rule) {
    return rule.describe(provider, detail);
  }
  return {
    title: `Could not finish connecting ${provider}`,
    what: `Something went wrong while Baseline was finishing the connection to ${provider}, so nothing was connected.`,
    next: 'Try again. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
    retry: true,
    detail,
  };
}

/** Problems a connection records while syncing (`ConnectionView.lastError`), as the sync and disconnect bots word them. */
const CONNECTION_RULES: readonly Rule[] = [
  {
    pattern: /refused the token refresh|no refresh token stored|refused the stored credentials/i,
    describe: (provider, detail) => ({
      title: `${provider} stopped accepting Baseline's access`,
      what: `${provider} no longer lets Baseline read your data — for example after a password change, or after Baseline was removed in your ${provider} account.`,
      next: 'Reconnect to resume; the data already imported stays in your record.',
      retry: true,
      detail,
    }),
  },
  {
    pattern: /could not be revoked/i,
    describe: (provider, detail) => ({
      title: `${provider} did not confirm the disconnect`,
      what: `Baseline stopped importing, but ${provider} did not confirm that it removed Baseline's access.`,
      next: `Disconnect again to retry, or remove Baseline in your ${provider} account settings.`,
      retry: true,
      detail,
    }),
  },
  {
    pattern: /client credentials|invalid_client|unauthorized_client/i,
    describe: (provider, detail) =>
      operatorProblem(provider, detail, `${provider} does not recognise this Baseline installation.`),
  },
  {
    pattern: /linked to another baseline user/i,
    describe: (provider, detail) => ({
      title: `Your ${provider} account was connected by someone else`,
      what: `Another Baseline user connected the same ${provider} account, so it stopped importing here. What was already imported stays yours.`,
      next: `If this is your ${provider} account, connect it again.`,
      retry: true,
      detail,
    }),
  },
];

/**
 * A connection's last recorded problem, for its card.
 * @param provider - the provider's display name.
 * @param lastError - `ConnectionView.lastError`.
 * @returns The human error.
 */
export function describeConnectionProblem(provider: string, lastError: string): HumanError {
  const rule = CONNECTION_RULES.find((r) => r.pattern.test(lastError));
  if (rule) {
    return rule.describe(provider, detailOf(lastError));
  }
  return {
    title: `The last ${provider} sync ran into a problem`,
    what: `Baseline could not import everything from ${provider} the last time it tried; it keeps retrying on its own.`,
    next: `Nothing to do for now. If this stays for more than a day, tell whoever runs your Baseline.`,
    retry: true,
    detail: detailOf(lastError),
  };
}

/**
 * Why the owner's connections could not be loaded (the connections bot or the network).
 * @param message - the error's normalized text.
 * @returns The human error.
 */
export function describeLoadFailure(message: string): HumanError {
  return describeFailedLoad(message, {
    title: 'Your connections could not be loaded',
    what: 'Baseline could not load your connections just now.',
    next: 'Try again in a moment. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
  });
}

/**
 * Something the page reads could not be loaded: the browser's own failure (offline), else the caller's words for
 * what is missing; always retryable, the server's text as the detail.
 * @param message - the error's normalized text
 * @param failed - title, what and next for a server-side failure
 * @returns the human error
 */
export function describeFailedLoad(message: string, failed: Pick<HumanError, 'title' | 'what' | 'next'>): HumanError {
  if (BROWSER_OFFLINE.pattern.test(message)) {
    return BROWSER_OFFLINE.describe('', detailOf(message));
  }
  return { ...failed, retry: true, detail: detailOf(message) };
}
