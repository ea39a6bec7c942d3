/**
 * The local stack's slice of Medplum's auth API: `/auth/login` (+ `/auth/profile`), `/oauth2/token`
 * (authorization_code with PKCE, client_credentials, refresh_token), `/auth/me`, `/oauth2/logout`, and the SMART
 * endpoints (`/.well-known/smart-configuration`, `/oauth2/authorize` with `launch` + `aud`, `patient` in the token
 * response). Logins are FHIR `Login` resources, as on Medplum, so a restart keeps sessions.
 *
 * Where Medplum redirects `/oauth2/authorize` to its own web app for sign-in, the stand-in serves a plain HTML
 * sign-in form itself: there is no Medplum app here.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, createReference, getReferenceString, OperationOutcomeError, unauthorized } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type {
  AccessPolicy,
  ClientApplication,
  Login,
  Project,
  ProjectMembership,
  Reference,
  SmartAppLaunch,
  User,
  UserConfiguration,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import type { Caller, StackContext } from './context.ts';
import { buildAccessPolicy, LocalRepository } from './fhir/index.ts';
import { currentRequest } from './audit.ts';
import { HttpError, parseBody, readBody, sendJson, sendText } from './http.ts';
import { signJwt, verifyJwt } from './jwt.ts';
import { FhirRateLimiter, quotaLimits } from './quota.ts';
import { safeEqual, verifyPassword } from './passwords.ts';

const ACCESS_TOKEN_SECONDS = 3600;
const REFRESH_TOKEN_SECONDS = 14 * 24 * 3600;
const CODE_TTL_MS = 10 * 60 * 1000;

const LoginRequest = z.object({
  email: z.string().min(1),
  password: z.string().min(1),
  codeChallenge: z.string().optional(),
  codeChallengeMethod: z.enum(['plain', 'S256']).optional(),
  clientId: z.string().optional(),
  projectId: z.string().optional(),
  scope: z.string().optional(),
  launch: z.string().optional(),
  remember: z.boolean().optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// Resolving a caller

export async function loadProject(ctx: StackContext): Promise<WithId<Project>> {
  return ctx.system.readResource<Project>('Project', ctx.projectId);
}

/** Builds the merged AccessPolicy of a membership, reading every referenced policy (Medplum: buildAccessPolicy). */
export async function policyForMembership(ctx: StackContext, membership: ProjectMembership): Promise<AccessPolicy> {
  const refs = [membership.accessPolicy, ...(membership.access ?? []).map((a) => a.policy)].filter(
    (r): r is Reference<AccessPolicy> => Boolean(r?.reference)
  );
  const policies = new Map<string, AccessPolicy>();
  for (const ref of refs) {
    const id = ref.reference?.split('/')[1];
    if (id && !policies.has(ref.reference as string)) {
      try {
        policies.set(ref.reference as string, await ctx.system.readResource<AccessPolicy>('AccessPolicy', id));
      } catch {
        // A dangling policy reference grants nothing, rather than failing every request of that member.
      }
    }
  }
  return buildAccessPolicy(membership, (ref) => policies.get(ref.reference ?? ''));
}

export async function callerForLogin(ctx: StackContext, login: WithId<Login>, extendedMode: boolean): Promise<Caller> {
  if (login.revoked) {
    throw new OperationOutcomeError(unauthorized);
  }
  const membershipId = login.membership?.reference?.split('/')[1];
  if (!membershipId) {
    throw new OperationOutcomeError(unauthorized);
  }
  const membership = await ctx.system.readResource<ProjectMembership>('ProjectMembership', membershipId).catch(() => {
    throw new OperationOutcomeError(unauthorized);
  });
  if (membership.active === false) {
    throw new OperationOutcomeError(unauthorized);
  }
  const project = await loadProject(ctx);
  const accessPolicy = await policyForMembership(ctx, membership);
  const profile = membership.profile as Reference;
  const userConfig = membership.userConfiguration
    ? await ctx.system.readReference<UserConfiguration>(membership.userConfiguration).catch(() => undefined)
    : undefined;
  const rateLimiter = new FhirRateLimiter({
    ledger: ctx.quota,
    membershipId: membership.id,
    projectId: project.id,
    limits: quotaLimits(project, ctx.defaultFhirQuota, userConfig),
    onSpend: (points) => {
      ctx.stats.quotaPoints[membership.id] = (ctx.stats.quotaPoints[membership.id] ?? 0) + points;
    },
  });
  const request = currentRequest();
  const repo = new LocalRepository(ctx.store, {
    rateLimiter,
    conflicts: ctx.conflicts,
    saveAuditEvents: ctx.saveAuditEvents,
    // Medplum records the address of the sign-in (Login.remoteAddress), not of each request.
    remoteAddress: login.remoteAddress,
    request: request ? { requestId: request.requestId, traceId: request.traceId } : undefined,
    redactAuditEvents: project.setting?.some((s) => s.name === 'redactAuditEvents' && s.valueBoolean === true),
    onAuditEvent: (stored) => {
      ctx.stats.auditEvents[stored ? 'stored' : 'refused']++;
    },
    unknownProperties: ctx.medplumVersion === '5.0' ? { Bot: ['rawBody'] } : undefined,
    project: project.id,
    author: profile,
    accessPolicy,
    projectAdmin: membership.admin === true,
    extendedMode,
    strictValidation: project.strictMode !== false,
    baseUrl: ctx.baseUrl,
  });
  return { login, membership, project, profile, accessPolicy, repo, rateLimiter };
}

/** Resolves `Authorization: Bearer <jwt>` to a caller, or throws 401 exactly like Medplum ("Unauthorized"). */
export async function authenticate(ctx: StackContext, req: IncomingMessage): Promise<Caller> {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match?.[1]) {
    throw new OperationOutcomeError(unauthorized);
  }
  const claims = verifyJwt(ctx.keys, match[1]);
  const loginId = typeof claims?.login_id === 'string' ? claims.login_id : undefined;
  if (!claims || !loginId || claims.token_use === 'refresh') {
    throw new OperationOutcomeError(unauthorized);
  }
  const login = await ctx.system.readResource<Login>('Login', loginId).catch(() => {
    throw new OperationOutcomeError(unauthorized);
  });
  const extended = String(req.headers['x-medplum'] ?? '').toLowerCase() === 'extended';
  return callerForLogin(ctx, login, extended);
}

// ---------------------------------------------------------------------------------------------------------------
// Logins and tokens

/** Medplum stores `req.ip` on password and client logins (never on a bot's `execute` login). */
function signInAddress(): Pick<Login, 'remoteAddress'> {
  const address = currentRequest()?.remoteAddress;
  return address ? { remoteAddress: address } : {};
}

export async function createLogin(ctx: StackContext, login: Omit<Login, 'resourceType'>): Promise<WithId<Login>> {
  return ctx.system.createResource<Login>({ resourceType: 'Login', ...login });
}

/** A short-lived login for a bot run (Medplum: getBotAccessToken), returning its access token. */
export async function createBotAccessToken(ctx: StackContext, membership: WithId<ProjectMembership>): Promise<string> {
  const login = await createLogin(ctx, {
    user: membership.user as Reference<User>,
    membership: createReference(membership),
    authMethod: 'execute',
    authTime: new Date().toISOString(),
    scope: 'openid',
    granted: true,
  });
  return accessToken(ctx, login, membership);
}

function accessToken(
  ctx: StackContext,
  login: WithId<Login>,
  membership: ProjectMembership,
  clientId?: string
): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(ctx.keys, {
    iss: ctx.baseUrl,
    sub: membership.user?.reference?.split('/')[1],
    profile: membership.profile?.reference,
    login_id: login.id,
    client_id: clientId,
    scope: login.scope ?? 'openid',
    token_use: 'access',
    iat: now,
    exp: now + ACCESS_TOKEN_SECONDS,
  });
}

async function issueTokens(
  ctx: StackContext,
  login: WithId<Login>,
  options: { refresh: boolean; clientId?: string }
): Promise<Record<string, unknown>> {
  const membershipId = login.membership?.reference?.split('/')[1] ?? '';
  const membership = await ctx.system.readResource<ProjectMembership>('ProjectMembership', membershipId);
  const now = Math.floor(Date.now() / 1000);
  let refreshToken: string | undefined;
  let current = login;
  if (options.refresh) {
    const refreshSecret = randomBytes(32).toString('hex');
    current = await ctx.system.updateResource<Login>({ ...login, refreshSecret });
    refreshToken = signJwt(ctx.keys, {
      iss: ctx.baseUrl,
      login_id: login.id,
      refresh_secret: refreshSecret,
      token_use: 'refresh',
      iat: now,
      exp: now + REFRESH_TOKEN_SECONDS,
    });
  }
  const profile = membership.profile as Reference;
  const idToken = signJwt(ctx.keys, {
    iss: ctx.baseUrl,
    sub: membership.user?.reference?.split('/')[1],
    aud: options.clientId,
    fhirUser: profile.reference,
    login_id: login.id,
    iat: now,
    exp: now + ACCESS_TOKEN_SECONDS,
  });
  let patient: string | undefined;
  if (current.launch?.reference) {
    const launch = await ctx.system.readReference<SmartAppLaunch>(current.launch).catch(() => undefined);
    patient = launch?.patient?.reference?.split('/')[1];
  } else if (profile.reference?.startsWith('Patient/')) {
    patient = profile.reference.split('/')[1];
  }
  return {
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_SECONDS,
    scope: current.scope ?? 'openid',
    id_token: idToken,
    access_token: accessToken(ctx, current, membership, options.clientId),
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    project: { reference: `Project/${ctx.projectId}` },
    profile: { reference: profile.reference, display: profile.display },
    ...(patient ? { patient } : {}),
  };
}

async function findUserByEmail(ctx: StackContext, email: string): Promise<WithId<User> | undefined> {
  return ctx.system.searchOne<User>({
    resourceType: 'User',
    filters: [{ code: 'email', operator: 'eq' as never, value: email.toLowerCase() }],
  });
}

async function membershipsForUser(ctx: StackContext, user: WithId<User>): Promise<WithId<ProjectMembership>[]> {
  const all = await ctx.system.searchResources<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'user', operator: 'eq' as never, value: getReferenceString(user) }],
  });
  return all.filter((m) => m.active !== false);
}

async function findClient(ctx: StackContext, clientId: string): Promise<WithId<ClientApplication> | undefined> {
  return ctx.system.readResource<ClientApplication>('ClientApplication', clientId).catch(() => undefined);
}

async function passwordLogin(
  ctx: StackContext,
  input: z.infer<typeof LoginRequest>
): Promise<{ login: WithId<Login>; memberships: WithId<ProjectMembership>[] }> {
  const user = await findUserByEmail(ctx, input.email);
  if (!verifyPassword(input.password, user?.passwordHash) || !user) {
    throw new OperationOutcomeError(badRequest('Email or password is invalid'));
  }
  if (input.clientId && !(await findClient(ctx, input.clientId))) {
    throw new OperationOutcomeError(badRequest('Client not found'));
  }
  if (input.projectId && input.projectId !== ctx.projectId) {
    throw new OperationOutcomeError(badRequest('User not found'));
  }
  const memberships = await membershipsForUser(ctx, user);
  if (memberships.length === 0) {
    throw new OperationOutcomeError(badRequest('User not found'));
  }
  const only = memberships.length === 1 ? memberships[0] : undefined;
  const login = await createLogin(ctx, {
    user: createReference(user),
    ...(input.clientId ? { client: { reference: `ClientApplication/${input.clientId}` } } : {}),
    authMethod: 'password',
    authTime: new Date().toISOString(),
    ...signInAddress(),
    scope: input.scope ?? 'openid',
    ...(input.codeChallenge ? { codeChallenge: input.codeChallenge } : {}),
    ...(input.codeChallengeMethod ? { codeChallengeMethod: input.codeChallengeMethod } : {}),
    ...(input.launch ? { launch: { reference: `SmartAppLaunch/${input.launch}` } } : {}),
    ...(only ? { membership: createReference(only), code: randomBytes(24).toString('hex') } : {}),
    granted: false,
  });
  return { login, memberships };
}

function verifyPkce(login: Login, verifier: string | undefined): boolean {
  if (!login.codeChallenge) {
    return true;
  }
  if (!verifier) {
    return false;
  }
  const computed =
    login.codeChallengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  return safeEqual(computed, login.codeChallenge);
}

function oauthError(res: ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { error, error_description: description }, 'application/json');
}

function clientCredentialsFrom(req: IncomingMessage, form: Record<string, string>): { id?: string; secret?: string } {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    return { id: decodeURIComponent(decoded.slice(0, sep)), secret: decodeURIComponent(decoded.slice(sep + 1)) };
  }
  return { id: form.client_id, secret: form.client_secret };
}

async function tokenEndpoint(ctx: StackContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (body.contentType !== 'application/x-www-form-urlencoded') {
    oauthError(res, 400, 'invalid_request', 'Unsupported content type');
    return;
  }
  const form = Object.fromEntries(new URLSearchParams(body.text));
  switch (form.grant_type) {
    case 'authorization_code': {
      const code = form.code ?? '';
      const login = code
        ? await ctx.system.searchOne<Login>({
            resourceType: 'Login',
            filters: [{ code: 'code', operator: 'eq' as never, value: code }],
          })
        : undefined;
      // Compare by value too: the search is a lookup, the equality is the check.
      if (!login?.code || !safeEqual(login.code, code) || login.granted || login.revoked) {
        oauthError(res, 400, 'invalid_grant', 'Invalid code');
        return;
      }
      if (Date.now() - Date.parse(login.authTime) > CODE_TTL_MS) {
        oauthError(res, 400, 'invalid_grant', 'Expired code');
        return;
      }
      const loginClient = login.client?.reference?.split('/')[1];
      if (loginClient && form.client_id && loginClient !== form.client_id) {
        oauthError(res, 400, 'invalid_request', 'Invalid client');
        return;
      }
      if (!verifyPkce(login, form.code_verifier)) {
        oauthError(res, 400, 'invalid_grant', 'Invalid code verifier');
        return;
      }
      const granted = await ctx.system.updateResource<Login>({ ...login, granted: true });
      sendJson(res, 200, await issueTokens(ctx, granted, { refresh: true, clientId: loginClient }), 'application/json');
      return;
    }
    case 'client_credentials': {
      const { id, secret } = clientCredentialsFrom(req, form);
      const client = id ? await findClient(ctx, id) : undefined;
      if (!client?.secret || !secret || !safeEqual(client.secret, secret)) {
        oauthError(res, 400, 'invalid_request', 'Invalid secret');
        return;
      }
      const membership = await ctx.system.searchOne<ProjectMembership>({
        resourceType: 'ProjectMembership',
        filters: [{ code: 'profile', operator: 'eq' as never, value: getReferenceString(client) }],
      });
      if (!membership || membership.active === false) {
        oauthError(res, 400, 'invalid_request', 'Invalid client');
        return;
      }
      const login = await createLogin(ctx, {
        user: createReference(client),
        client: createReference(client),
        membership: createReference(membership),
        authMethod: 'client',
        authTime: new Date().toISOString(),
        ...signInAddress(),
        scope: form.scope ?? 'openid',
        granted: true,
      });
      sendJson(res, 200, await issueTokens(ctx, login, { refresh: false, clientId: client.id }), 'application/json');
      return;
    }
    case 'refresh_token': {
      const claims = verifyJwt(ctx.keys, form.refresh_token ?? '');
      const loginId = typeof claims?.login_id === 'string' ? claims.login_id : undefined;
      const login = loginId ? await ctx.system.readResource<Login>('Login', loginId).catch(() => undefined) : undefined;
      const presented = typeof claims?.refresh_secret === 'string' ? claims.refresh_secret : '';
      if (
        !login?.refreshSecret ||
        login.revoked ||
        claims?.token_use !== 'refresh' ||
        !safeEqual(login.refreshSecret, presented)
      ) {
        oauthError(res, 400, 'invalid_request', 'Invalid token');
        return;
      }
      const clientId = login.client?.reference?.split('/')[1];
      sendJson(res, 200, await issueTokens(ctx, login, { refresh: true, clientId }), 'application/json');
      return;
    }
    default:
      oauthError(res, 400, 'invalid_request', 'Unsupported grant_type');
  }
}

async function me(ctx: StackContext, caller: Caller): Promise<Record<string, unknown>> {
  const profile = await ctx.system.readReference(caller.profile);
  const userRef = caller.membership.user?.reference;
  const user = userRef?.startsWith('User/') ? await ctx.system.readReference<User>({ reference: userRef }) : undefined;
  const {
    secret: _secret,
    systemSecret: _systemSecret,
    ...project
  } = caller.project as Project & {
    systemSecret?: unknown;
  };
  return {
    user: user
      ? { resourceType: 'User', id: user.id, email: user.email, firstName: user.firstName, lastName: user.lastName }
      : undefined,
    project,
    membership: caller.membership,
    profile,
    config: { resourceType: 'UserConfiguration', id: 'default', menu: [] },
    accessPolicy: caller.accessPolicy,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SMART on FHIR

export function smartConfiguration(baseUrl: string): Record<string, unknown> {
  return {
    issuer: baseUrl,
    jwks_uri: new URL('.well-known/jwks.json', baseUrl).toString(),
    authorization_endpoint: new URL('oauth2/authorize', baseUrl).toString(),
    token_endpoint: new URL('oauth2/token', baseUrl).toString(),
    userinfo_endpoint: new URL('oauth2/userinfo', baseUrl).toString(),
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: [
      'openid',
      'fhirUser',
      'launch',
      'launch/patient',
      'offline_access',
      'online_access',
      'patient/*.rs',
      'user/*.cruds',
    ],
    response_types_supported: ['code'],
    capabilities: [
      'launch-ehr',
      'launch-standalone',
      'client-public',
      'client-confidential-symmetric',
      'context-ehr-patient',
      'sso-openid-connect',
      'permission-v1',
      'permission-v2',
    ],
    code_challenge_methods_supported: ['S256'],
  };
}

const AuthorizeParams = z.object({
  response_type: z.literal('code'),
  client_id: z.string().min(1),
  redirect_uri: z.string().url(),
  scope: z.string().default('openid'),
  state: z.string().optional(),
  code_challenge: z.string().optional(),
  code_challenge_method: z.enum(['plain', 'S256']).optional(),
  launch: z.string().optional(),
  aud: z.string().optional(),
});

async function validateAuthorize(
  ctx: StackContext,
  query: Record<string, string>
): Promise<z.infer<typeof AuthorizeParams>> {
  const parsed = AuthorizeParams.safeParse(query);
  if (!parsed.success) {
    throw new HttpError(
      400,
      `Invalid authorize request: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`
    );
  }
  const params = parsed.data;
  const client = await findClient(ctx, params.client_id);
  if (!client) {
    throw new HttpError(400, 'Client not found');
  }
  const allowed = [...(client.redirectUris ?? []), ...(client.redirectUri ? [client.redirectUri] : [])];
  if (!allowed.includes(params.redirect_uri)) {
    throw new HttpError(400, 'Incorrect redirect_uri');
  }
  if (params.aud && new URL(params.aud).host !== new URL(ctx.baseUrl).host) {
    throw new HttpError(400, 'Invalid aud');
  }
  if (params.launch) {
    const launch = await ctx.system
      .readResource<SmartAppLaunch>('SmartAppLaunch', params.launch)
      .catch(() => undefined);
    if (!launch) {
      throw new HttpError(400, 'Invalid launch');
    }
  }
  return params;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function authorizePage(query: Record<string, string>, error?: string): string {
  const hidden = Object.entries(query)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Sign in — Baseline local stack</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.75rem 0}input{width:100%;padding:.4rem}button{padding:.5rem 1rem}</style></head>
<body><h1>Sign in</h1><p>Local development stand-in for Medplum's sign-in page.</p>
${error ? `<p role="alert" style="color:#b00">${escapeHtml(error)}</p>` : ''}
<form method="post">${hidden}<label>Email<input name="email" type="email" autocomplete="username" required></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>`;
}

async function authorizeEndpoint(
  ctx: StackContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL
): Promise<void> {
  if (req.method === 'GET') {
    const query = Object.fromEntries(url.searchParams);
    await validateAuthorize(ctx, query);
    sendText(res, 200, authorizePage(query), 'text/html');
    return;
  }
  const form = Object.fromEntries(new URLSearchParams((await readBody(req)).text));
  const { email = '', password = '', ...query } = form;
  const params = await validateAuthorize(ctx, query);
  let result: Awaited<ReturnType<typeof passwordLogin>>;
  try {
    result = await passwordLogin(ctx, {
      email,
      password,
      clientId: params.client_id,
      scope: params.scope,
      codeChallenge: params.code_challenge,
      codeChallengeMethod: params.code_challenge_method,
      launch: params.launch,
    });
  } catch {
    sendText(res, 400, authorizePage(query, 'Email or password is invalid'), 'text/html');
    return;
  }
  if (!result.login.code) {
    sendText(
      res,
      400,
      authorizePage(query, 'This user has several profiles; the local stack supports one.'),
      'text/html'
    );
    return;
  }
  const redirect = new URL(params.redirect_uri);
  redirect.searchParams.set('code', result.login.code);
  if (params.state) {
    redirect.searchParams.set('state', params.state);
  }
  res.writeHead(302, { Location: redirect.toString() });
  res.end();
}

// ---------------------------------------------------------------------------------------------------------------

/** Handles auth routes; returns false when the path is not one of them. */
export async function handleAuthRoute(
  ctx: StackContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL
): Promise<boolean> {
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (method === 'POST' && path === '/auth/method') {
    // SignInForm asks first whether the email belongs to an external identity provider; the stand-in has none,
    // and Medplum answers `{}` in that case.
    const body = z.object({ email: z.string().min(1) }).safeParse(parseBody(await readBody(req)));
    if (!body.success) {
      throw new OperationOutcomeError(badRequest('Invalid email'));
    }
    sendJson(res, 200, {}, 'application/json');
    return true;
  }
  if (method === 'POST' && path === '/auth/login') {
    const parsed = LoginRequest.safeParse(parseBody(await readBody(req)));
    if (!parsed.success) {
      throw new OperationOutcomeError(badRequest('Invalid login request'));
    }
    const { login, memberships } = await passwordLogin(ctx, parsed.data);
    sendJson(
      res,
      200,
      login.code ? { login: login.id, code: login.code } : { login: login.id, memberships },
      'application/json'
    );
    return true;
  }
  if (method === 'POST' && path === '/auth/profile') {
    const body = z.object({ login: z.string(), profile: z.string() }).safeParse(parseBody(await readBody(req)));
    if (!body.success) {
      throw new OperationOutcomeError(badRequest('Invalid profile request'));
    }
    const login = await ctx.system.readResource<Login>('Login', body.data.login);
    const membership = await ctx.system.readResource<ProjectMembership>('ProjectMembership', body.data.profile);
    if (login.granted || login.membership || membership.user?.reference !== login.user.reference) {
      throw new OperationOutcomeError(badRequest('Invalid profile request'));
    }
    const updated = await ctx.system.updateResource<Login>({
      ...login,
      membership: createReference(membership),
      code: randomBytes(24).toString('hex'),
    });
    sendJson(res, 200, { login: updated.id, code: updated.code }, 'application/json');
    return true;
  }
  if (method === 'POST' && path === '/oauth2/token') {
    await tokenEndpoint(ctx, req, res);
    return true;
  }
  if (method === 'GET' && path === '/auth/me') {
    const caller = await authenticate(ctx, req);
    sendJson(res, 200, await me(ctx, caller), 'application/json');
    return true;
  }
  if ((method === 'POST' || method === 'GET') && (path === '/oauth2/logout' || path === '/auth/logout')) {
    const caller = await authenticate(ctx, req).catch(() => undefined);
    if (caller) {
      await ctx.system.updateResource<Login>({ ...caller.login, revoked: true });
    }
    sendJson(res, 200, {}, 'application/json');
    return true;
  }
  if (method === 'GET' && path === '/oauth2/userinfo') {
    const caller = await authenticate(ctx, req);
    sendJson(
      res,
      200,
      { sub: caller.membership.user?.reference?.split('/')[1], fhirUser: caller.profile.reference },
      'application/json'
    );
    return true;
  }
  if ((method === 'GET' || method === 'POST') && path === '/oauth2/authorize') {
    await authorizeEndpoint(ctx, req, res, url);
    return true;
  }
  if (
    method === 'GET' &&
    (path === '/.well-known/smart-configuration' || path === '/fhir/R4/.well-known/smart-configuration')
  ) {
    sendJson(res, 200, smartConfiguration(ctx.baseUrl), 'application/json');
    return true;
  }
  if (method === 'GET' && path === '/.well-known/openid-configuration') {
    sendJson(res, 200, smartConfiguration(ctx.baseUrl), 'application/json');
    return true;
  }
  return false;
}
