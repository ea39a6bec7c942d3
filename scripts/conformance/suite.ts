/**
 * The conformance suite: one fixed sequence of HTTP requests, sent to any Medplum-compatible server as a project-admin
 * client, each answer reduced to what Baseline can depend on (status, content type, the headers that matter, the
 * normalised body) so that a real Medplum and the local stack can be compared answer by answer.
 *
 * The sequence needs a project no one else is using at the same time (quota numbers are compared exactly) with the
 * `bots` feature; `real-project.ts` creates one on a real server, the local stack's own project qualifies.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { createNormaliser, fhirRemaining, normaliseRateLimit } from './normalise.ts';
import type { Normaliser } from './normalise.ts';

export interface Exchange {
  name: string;
  request: string;
  status: number;
  contentType: string | null;
  /** Only the headers whose presence or shape Baseline relies on. */
  headers: Record<string, string | null>;
  /** FHIR quota points this request cost the admin client (from the RateLimit header), when measurable. */
  points?: number | 'window-reset';
  body: unknown;
}

export interface SuiteCredentials {
  clientId: string;
  clientSecret: string;
  projectId?: string;
}

export interface SuiteOptions {
  baseUrl: string;
  credentials: SuiteCredentials;
  /** Progress lines (one per request). */
  log?: (line: string) => void;
  /** How long to wait for a subscription-triggered bot's AuditEvent. */
  subscriptionDeadlineMs?: number;
}

interface Req {
  method: string;
  path: string;
  /** Bearer token; undefined = unauthenticated. */
  token?: string;
  json?: unknown;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

interface Raw {
  status: number;
  contentType: string | null;
  headers: Headers;
  text: string;
  json: unknown;
  points: Exchange['points'];
}

const TokenResponse = z.object({ access_token: z.string() });
const WithIdSchema = z.object({ id: z.string() });
const BundleSchema = z.object({
  entry: z
    .array(z.object({ resource: z.unknown().optional(), response: z.unknown().optional() }).passthrough())
    .optional(),
  total: z.number().optional(),
  link: z.array(z.object({ relation: z.string(), url: z.string() })).optional(),
});
const ClientSchema = z.object({ id: z.string(), secret: z.string() });
const MeSchema = z.object({ project: z.object({ id: z.string() }) });

/** The bot every bot step runs: it reports what it received, or returns/throws what the input asks for. */
export const ECHO_BOT_CODE = `
exports.handler = async function (medplum, event) {
  const input = event.input;
  let mode = 'echo';
  if (input && typeof input === 'object' && typeof input.mode === 'string') mode = input.mode;
  if (typeof input === 'string' && input.startsWith('mode=')) mode = input.slice(5);
  if (mode === 'string') return 'plain string';
  if (mode === 'object') return { answer: 42 };
  if (mode === 'undefined') return undefined;
  if (mode === 'throw') throw new Error('asked to fail');
  return {
    inputType: Array.isArray(input) ? 'array' : typeof input,
    input: input,
    contentType: event.contentType === undefined ? '(undefined)' : event.contentType,
    traceId: event.traceId === undefined ? '(undefined)' : typeof event.traceId,
    requester: event.requester === undefined ? '(undefined)' : typeof event.requester,
  };
};
`;

const OBSERVATIONS: { label: string; code: string; text: string; effective: Record<string, unknown> }[] = [
  {
    label: 'obsInstantMorning',
    code: '8867-4',
    text: 'Heart rate',
    effective: { effectiveDateTime: '2024-05-04T10:00:00Z' },
  },
  { label: 'obsDateOnly', code: '8867-4', text: 'Heart rate', effective: { effectiveDateTime: '2024-05-04' } },
  {
    label: 'obsPeriodStraddling',
    code: '93832-4',
    text: 'Sleep duration',
    effective: { effectivePeriod: { start: '2024-05-03T20:00:00Z', end: '2024-05-05T04:00:00Z' } },
  },
  {
    label: 'obsPeriodWithin',
    code: '93832-4',
    text: 'Sleep duration',
    effective: { effectivePeriod: { start: '2024-05-04T01:00:00Z', end: '2024-05-04T02:00:00Z' } },
  },
  { label: 'obsUndated', code: '29463-7', text: 'Body weight', effective: {} },
  {
    label: 'obsNextDay',
    code: '40443-4',
    text: 'Resting heart rate',
    effective: { effectiveDateTime: '2024-05-05T08:00:00Z' },
  },
  {
    label: 'obsEffectiveInstant',
    code: '8867-4',
    text: 'Heart rate',
    effective: { effectiveInstant: '2024-05-04T12:30:00Z' },
  },
];

function orderedOrSorted(values: string[], ordered: boolean): string[] {
  return ordered ? values : [...values].sort();
}

export async function runSuite(options: SuiteOptions): Promise<Exchange[]> {
  const base = options.baseUrl.endsWith('/') ? options.baseUrl : options.baseUrl + '/';
  const log = options.log ?? ((): void => undefined);
  const runId = randomBytes(6).toString('hex');
  const norm: Normaliser = createNormaliser(base, runId);
  const exchanges: Exchange[] = [];
  const system = `https://baseline.example/conformance/${runId}`;
  let lastAdminRemaining: number | undefined;
  const admin = { token: '' }; // set right after sign-in; send() needs it to attribute quota points

  async function send(req: Req): Promise<Raw> {
    const headers: Record<string, string> = { ...req.headers };
    if (req.token) {
      headers.Authorization = `Bearer ${req.token}`;
    }
    let body: string | undefined;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['Content-Type'] =
        req.contentType ?? (req.path.startsWith('fhir/') ? 'application/fhir+json' : 'application/json');
    } else if (req.text !== undefined) {
      body = req.text;
      headers['Content-Type'] = req.contentType ?? 'text/plain';
    }
    const res = await fetch(base + req.path, { method: req.method, headers, body, redirect: 'manual' });
    const text = req.method === 'HEAD' ? '' : await res.text();
    let points: Exchange['points'];
    const remaining = fhirRemaining(res.headers.get('ratelimit'));
    if (req.token !== undefined && req.token === admin.token && remaining !== undefined) {
      // Requests without the header (admin API, auth) are charged to the next FHIR request's figure.
      if (lastAdminRemaining !== undefined) {
        points = remaining > lastAdminRemaining ? 'window-reset' : lastAdminRemaining - remaining;
      }
      lastAdminRemaining = remaining;
    }
    let json: unknown;
    try {
      json = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      json = undefined;
    }
    return {
      status: res.status,
      contentType: res.headers.get('content-type'),
      headers: res.headers,
      text,
      json,
      points,
    };
  }

  async function token(clientId: string, clientSecret: string): Promise<string> {
    const raw = await send({
      method: 'POST',
      path: 'oauth2/token',
      text: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
      }).toString(),
      contentType: 'application/x-www-form-urlencoded',
    });
    return TokenResponse.parse(raw.json).access_token;
  }

  /** Sends, records the normalised exchange, and returns the raw answer for later steps. */
  async function step(
    name: string,
    req: Req,
    view: { summarise?: (raw: Raw) => unknown; keepQuota?: boolean; label?: string; locationLabel?: string } = {}
  ): Promise<Raw> {
    const raw = await send(req);
    const rateLimit = raw.headers.get('ratelimit');
    const points = raw.points;
    if (view.label) {
      idOf(raw, view.label);
    }
    const locationId = /\/([^/]+?)(?:\/_history\/[^/]+)?$/.exec(raw.headers.get('location') ?? '')?.[1];
    if (view.locationLabel && locationId) {
      norm.name(locationId, view.locationLabel);
    }
    // Non-JSON bodies are marked, so a JSON string and a bare text body never compare equal.
    const body = view.summarise ? view.summarise(raw) : raw.json !== undefined ? raw.json : `(text) ${raw.text}`;
    const exchange: Exchange = {
      name,
      request: norm.text(`${req.method} ${req.path}`),
      status: raw.status,
      contentType: raw.contentType,
      headers: {
        ratelimit: normaliseRateLimit(rateLimit, view.keepQuota ?? false),
        location: raw.headers.get('location') === null ? null : norm.text(raw.headers.get('location') ?? ''),
        etag: raw.headers.get('etag') === null ? null : norm.text(raw.headers.get('etag') ?? ''),
      },
      ...(points === undefined ? undefined : { points }),
      body: norm.value(body),
    };
    exchanges.push(exchange);
    log(`${raw.status} ${exchange.request}`);
    return raw;
  }

  const idOf = (raw: Raw, label: string): string => {
    const id = WithIdSchema.parse(raw.json).id;
    norm.name(id, label);
    return id;
  };
  /** A searchset reduced to what a client reads: which fixtures, in which order, and the bundle's shape. */
  const searchView = (raw: Raw, ordered = true): unknown => {
    const parsed = BundleSchema.safeParse(raw.json);
    if (raw.status !== 200 || !parsed.success) {
      return raw.json ?? raw.text;
    }
    const b = parsed.data;
    return {
      hasEntryKey: b.entry !== undefined,
      ids: orderedOrSorted(
        (b.entry ?? []).map((e) => norm.text(WithIdSchema.safeParse(e.resource).data?.id ?? '(no id)')),
        ordered
      ),
      modes: (b.entry ?? []).map((e) => (e as { search?: { mode?: string } }).search?.mode ?? '(none)'),
      total: b.total ?? '(absent)',
      links: (b.link ?? []).map((l) => `${l.relation} ${l.url}`),
    };
  };
  const batchView = (raw: Raw): unknown => {
    const parsed = BundleSchema.safeParse(raw.json);
    if (!parsed.success || !Array.isArray(parsed.data.entry)) {
      return raw.json ?? raw.text;
    }
    const statuses: Record<string, number> = {};
    let firstRefused: unknown;
    for (const e of parsed.data.entry) {
      const r = e.response as { status?: string; outcome?: unknown } | undefined;
      const s = r?.status ?? '(none)';
      statuses[s] = (statuses[s] ?? 0) + 1;
      if (!s.startsWith('2') && firstRefused === undefined) {
        firstRefused = e;
      }
    }
    return { type: (raw.json as { type?: string }).type, entries: parsed.data.entry.length, statuses, firstRefused };
  };

  // -------------------------------------------------------------------------------------------------------------
  // Sign-in and server facts

  admin.token = await token(options.credentials.clientId, options.credentials.clientSecret);
  const meRaw = await send({ method: 'GET', path: 'auth/me', token: admin.token });
  const projectId = options.credentials.projectId ?? MeSchema.parse(meRaw.json).project.id;
  norm.name(projectId, 'project');

  await step(
    'healthcheck',
    { method: 'GET', path: 'healthcheck' },
    {
      summarise: (raw) => {
        const h = z.object({ ok: z.boolean(), version: z.string() }).passthrough().parse(raw.json);
        return { ...h, version: h.version.replace(/-.*$/, '-<build>'), platform: '<p>', runtime: '<r>' };
      },
    }
  );
  await step(
    'metadata',
    { method: 'GET', path: 'fhir/R4/metadata' },
    {
      summarise: (raw) => {
        const c = raw.json as Record<string, unknown>;
        return { resourceType: c.resourceType, fhirVersion: c.fhirVersion, kind: c.kind, status: c.status };
      },
    }
  );
  await step('auth me content type', { method: 'GET', path: 'auth/me', token: admin.token }, { summarise: () => '-' });
  await step(
    'admin project content type',
    { method: 'GET', path: `admin/projects/${projectId}`, token: admin.token },
    {
      summarise: () => '-',
    }
  );
  // First FHIR request of the admin client in this run: only its quota header shape is compared.
  await step(
    'first search',
    { method: 'GET', path: 'fhir/R4/Patient?_count=0', token: admin.token },
    { summarise: () => '-' }
  );

  // -------------------------------------------------------------------------------------------------------------
  // Validation and unusual requests

  await step('JSON null is refused', {
    method: 'POST',
    path: 'fhir/R4/Patient',
    token: admin.token,
    json: { resourceType: 'Patient', gender: null },
  });
  await step('unknown resource type read', { method: 'GET', path: 'fhir/R4/FooBar/1', token: admin.token });
  await step('unknown resource type search', { method: 'GET', path: 'fhir/R4/FooBar', token: admin.token });
  const missing = randomUUID();
  norm.name(missing, 'missing');
  await step('read missing', { method: 'GET', path: `fhir/R4/Patient/${missing}`, token: admin.token });
  await step('read non-uuid id', { method: 'GET', path: 'fhir/R4/Patient/not-a-uuid', token: admin.token });
  await step('text/plain FHIR body', {
    method: 'POST',
    path: 'fhir/R4/Patient',
    token: admin.token,
    text: '{"resourceType":"Patient"}',
  });
  await step('invalid JSON body', {
    method: 'POST',
    path: 'fhir/R4/Patient',
    token: admin.token,
    text: '{"resourceType":',
    contentType: 'application/fhir+json',
  });
  await step('body over 1 MB', {
    method: 'POST',
    path: 'fhir/R4/Patient',
    token: admin.token,
    json: { resourceType: 'Patient', name: [{ text: 'x'.repeat(1024 * 1024 + 10) }] },
  });

  // -------------------------------------------------------------------------------------------------------------
  // CRUD

  const patientA = idOf(
    await step(
      'create patient',
      {
        method: 'POST',
        path: 'fhir/R4/Patient',
        token: admin.token,
        json: {
          resourceType: 'Patient',
          identifier: [{ system, value: 'a' }],
          name: [{ given: ['Ada'], family: 'Conformance' }],
          gender: 'female',
          birthDate: '1990-01-02',
        },
      },
      { label: 'patientA' }
    ),
    'patientA'
  );
  const minimal = await step(
    'create with Prefer return=minimal',
    {
      method: 'POST',
      path: 'fhir/R4/Patient',
      token: admin.token,
      json: { resourceType: 'Patient', identifier: [{ system, value: 'minimal' }] },
      headers: { Prefer: 'return=minimal' },
    },
    { locationLabel: 'patientMinimal' }
  );
  const minimalId = /Patient\/([^/]+)/.exec(minimal.headers.get('location') ?? '')?.[1] ?? '';
  norm.name(minimalId, 'patientMinimal');
  const readA = await step('read', { method: 'GET', path: `fhir/R4/Patient/${patientA}`, token: admin.token });
  const patientAResource = readA.json as Record<string, unknown>;
  await step('update that changes nothing', {
    method: 'PUT',
    path: `fhir/R4/Patient/${patientA}`,
    token: admin.token,
    json: patientAResource,
  });
  const stale = `W/"${randomUUID()}"`;
  await step('PUT with stale If-Match', {
    method: 'PUT',
    path: `fhir/R4/Patient/${patientA}`,
    token: admin.token,
    json: { ...patientAResource, gender: 'other' },
    headers: { 'If-Match': stale },
  });
  await step('PATCH with stale If-Match', {
    method: 'PATCH',
    path: `fhir/R4/Patient/${patientA}`,
    token: admin.token,
    json: [{ op: 'replace', path: '/gender', value: 'female' }],
    contentType: 'application/json-patch+json',
    headers: { 'If-Match': stale },
  });
  await step('conditional create of an existing identifier', {
    method: 'POST',
    path: 'fhir/R4/Patient',
    token: admin.token,
    json: { resourceType: 'Patient', identifier: [{ system, value: 'a' }] },
    headers: { 'If-None-Exist': `identifier=${system}|a` },
  });
  await step('delete', { method: 'DELETE', path: `fhir/R4/Patient/${minimalId}`, token: admin.token });
  await step('read deleted', { method: 'GET', path: `fhir/R4/Patient/${minimalId}`, token: admin.token });
  await step(
    'history',
    { method: 'GET', path: `fhir/R4/Patient/${patientA}/_history`, token: admin.token },
    {
      summarise: (raw) => {
        const b = raw.json as { type?: string; total?: number; entry?: unknown[] };
        return { type: b.type, total: b.total, entries: b.entry?.length };
      },
    }
  );

  // $expunge (project admins): a deleted resource and its whole history disappear; others are refused.
  const doomed = idOf(
    await send({
      method: 'POST',
      path: 'fhir/R4/Patient',
      token: admin.token,
      json: { resourceType: 'Patient', identifier: [{ system, value: 'doomed' }] },
    }),
    'patientDoomed'
  );
  await send({
    method: 'PUT',
    path: `fhir/R4/Patient/${doomed}`,
    token: admin.token,
    json: { resourceType: 'Patient', id: doomed, identifier: [{ system, value: 'doomed' }], gender: 'other' },
  });
  await send({ method: 'DELETE', path: `fhir/R4/Patient/${doomed}`, token: admin.token });
  await step('$expunge a deleted resource', {
    method: 'POST',
    path: `fhir/R4/Patient/${doomed}/$expunge`,
    token: admin.token,
  });
  await step('history after $expunge', {
    method: 'GET',
    path: `fhir/R4/Patient/${doomed}/_history`,
    token: admin.token,
  });
  await step('read after $expunge', { method: 'GET', path: `fhir/R4/Patient/${doomed}`, token: admin.token });
  await step('$expunge an unknown id', {
    method: 'POST',
    path: `fhir/R4/Patient/${missing}/$expunge`,
    token: admin.token,
  });
  const plainClient = ClientSchema.parse(
    (
      await send({
        method: 'POST',
        path: `admin/projects/${projectId}/client`,
        token: admin.token,
        json: { name: `conformance-plain-${runId}` },
      })
    ).json
  );
  const plainToken = await token(plainClient.id, plainClient.secret);
  await step('$expunge by a non-admin', {
    method: 'POST',
    path: `fhir/R4/Patient/${patientA}/$expunge`,
    token: plainToken,
  });

  // -------------------------------------------------------------------------------------------------------------
  // Observations and search

  const batch = await step(
    'batch create observations',
    {
      method: 'POST',
      path: 'fhir/R4',
      token: admin.token,
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: OBSERVATIONS.map((o) => ({
          request: { method: 'POST', url: 'Observation' },
          resource: {
            resourceType: 'Observation',
            status: 'final',
            identifier: [{ system, value: o.label }],
            code: { coding: [{ system: 'http://loinc.org', code: o.code, display: o.text }], text: o.text },
            subject: { reference: `Patient/${patientA}` },
            ...o.effective,
            valueQuantity: { value: 1, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
          },
        })),
      },
    },
    { summarise: batchView }
  );
  const created = BundleSchema.parse(batch.json).entry ?? [];
  created.forEach((e, i) => {
    const id = WithIdSchema.safeParse(e.resource).data?.id;
    const label = OBSERVATIONS[i]?.label;
    if (id && label) {
      norm.name(id, label);
    }
  });
  const obs = (query: string): string => `fhir/R4/Observation?subject=Patient/${patientA}&${query}`;
  const searches: [string, string][] = [
    ['_sort=-date (undated resources)', '_sort=-date'],
    ['_sort=date', '_sort=date'],
    ['date=day', 'date=2024-05-04'],
    ['date=eq instant', 'date=eq2024-05-04T10:00:00Z'],
    ['date=instant of effectiveInstant', 'date=2024-05-04T12:30:00Z'],
    ['date=ge instant', 'date=ge2024-05-04T00:00:00Z'],
    ['date=ge day', 'date=ge2024-05-04'],
    ['date=le instant', 'date=le2024-05-04T00:00:00Z'],
    ['date=gt instant (straddling period)', 'date=gt2024-05-04T03:00:00Z'],
    ['date=lt instant (straddling period)', 'date=lt2024-05-04T03:00:00Z'],
    ['date range ge/lt', 'date=ge2024-05-04&date=lt2024-05-05'],
    ['code:text', 'code:text=heart'],
    ['code token', 'code=http://loinc.org|8867-4&_sort=_lastUpdated'],
    ['_summary=count', '_summary=count'],
    ['_total=accurate with paging', '_total=accurate&_count=2&_sort=_lastUpdated'],
    ['_count=0', '_count=0'],
    ['_include', '_include=Observation:subject&_count=1&_sort=_lastUpdated'],
  ];
  for (const [name, query] of searches) {
    // Without _sort the order is the server's business: compare which fixtures matched, not their order.
    const ordered = query.includes('_sort=');
    await step(
      `search ${name}`,
      { method: 'GET', path: obs(query), token: admin.token },
      { summarise: (raw) => searchView(raw, ordered) }
    );
  }
  await step('search with no match', {
    method: 'GET',
    path: `fhir/R4/Observation?subject=Patient/${missing}`,
    token: admin.token,
  });
  await step('search full page', {
    method: 'GET',
    path: obs('code=http://loinc.org|29463-7'),
    token: admin.token,
  });

  await step(
    'search identifier list',
    {
      method: 'GET',
      path: `fhir/R4/Observation?identifier=${system}|obsUndated,${system}|obsNextDay`,
      token: admin.token,
    },
    { summarise: (raw) => searchView(raw, false) }
  );
  await step(
    'search _count over the maximum',
    { method: 'GET', path: obs('_count=5000'), token: admin.token },
    {
      summarise: (raw) => searchView(raw, false),
    }
  );
  await step(
    'search _revinclude',
    {
      method: 'GET',
      path: `fhir/R4/Patient?_id=${patientA}&_revinclude=Observation:subject`,
      token: admin.token,
    },
    { summarise: (raw) => searchView(raw, false) }
  );
  await step('search _elements', {
    method: 'GET',
    path: obs('_elements=status&_sort=_lastUpdated&_count=1'),
    token: admin.token,
  });

  // Ingestion-shaped writes: what Baseline's bots send, and what each costs.
  const conditionalPuts = (values: string[], value: number): unknown => ({
    resourceType: 'Bundle',
    type: 'batch',
    entry: values.map((v) => ({
      request: { method: 'PUT', url: `Observation?identifier=${system}|${v}` },
      resource: {
        resourceType: 'Observation',
        status: 'final',
        identifier: [{ system, value: v }],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${patientA}` },
        effectiveDateTime: '2024-05-06T10:00:00Z',
        valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      },
    })),
  });
  await step(
    'batch conditional PUT, new',
    { method: 'POST', path: 'fhir/R4', token: admin.token, json: conditionalPuts(['cp1', 'cp2', 'cp3'], 60) },
    {
      summarise: batchView,
    }
  );
  await step(
    'batch conditional PUT, unchanged',
    { method: 'POST', path: 'fhir/R4', token: admin.token, json: conditionalPuts(['cp1', 'cp2', 'cp3'], 60) },
    {
      summarise: batchView,
    }
  );
  await step(
    'batch conditional PUT, changed',
    { method: 'POST', path: 'fhir/R4', token: admin.token, json: conditionalPuts(['cp1', 'cp2', 'cp3'], 61) },
    {
      summarise: batchView,
    }
  );
  await step(
    'batch conditional create, existing',
    {
      method: 'POST',
      path: 'fhir/R4',
      token: admin.token,
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${system}|cp1` },
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: { text: 'x' },
              identifier: [{ system, value: 'cp1' }],
            },
          },
        ],
      },
    },
    { summarise: batchView }
  );
  await step(
    'transaction',
    {
      method: 'POST',
      path: 'fhir/R4',
      token: admin.token,
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:6f1c6b1e-0c0e-4d55-9c43-0d0d0d0d0d01',
            request: { method: 'POST', url: 'Patient' },
            resource: { resourceType: 'Patient', identifier: [{ system, value: 'tx' }] },
          },
          {
            request: { method: 'POST', url: 'Observation' },
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: { text: 'tx' },
              subject: { reference: 'urn:uuid:6f1c6b1e-0c0e-4d55-9c43-0d0d0d0d0d01' },
            },
          },
        ],
      },
    },
    { summarise: batchView }
  );
  await step('conditional delete', {
    method: 'DELETE',
    path: `fhir/R4/Observation?identifier=${system}|cp3`,
    token: admin.token,
  });
  await step(
    'batch of 25 creates for paging',
    {
      method: 'POST',
      path: 'fhir/R4',
      token: admin.token,
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: Array.from({ length: 25 }, (_, i) => ({
          request: { method: 'POST', url: 'Basic' },
          resource: {
            resourceType: 'Basic',
            code: { coding: [{ system, code: 'paging' }] },
            identifier: [{ system, value: `p${i}` }],
          },
        })),
      },
    },
    { summarise: batchView }
  );
  const firstPage = await step(
    'search _sort=_lastUpdated page of 20',
    { method: 'GET', path: `fhir/R4/Basic?code=${system}|paging&_sort=_lastUpdated&_count=20`, token: admin.token },
    {
      summarise: (raw) => {
        const view = searchView(raw) as { ids?: string[]; links?: string[] };
        return { count: view.ids?.length, links: view.links };
      },
    }
  );

  const nextLink = BundleSchema.safeParse(firstPage.json).data?.link?.find((l) => l.relation === 'next')?.url ?? '';
  await step(
    'search next page',
    { method: 'GET', path: nextLink.replace(base, ''), token: admin.token },
    {
      summarise: (raw) => {
        const view = searchView(raw) as { ids?: string[]; links?: string[] };
        return { count: view.ids?.length, links: view.links };
      },
    }
  );

  // -------------------------------------------------------------------------------------------------------------
  // Bots, $execute and webhooks

  const policy = idOf(
    await step(
      'create access policy',
      {
        method: 'POST',
        path: 'fhir/R4/AccessPolicy',
        token: admin.token,
        json: { resourceType: 'AccessPolicy', name: `conformance ${runId}`, resource: [{ resourceType: 'Patient' }] },
      },
      { label: 'policy' }
    ),
    'policy'
  );
  const botRaw = await step(
    'admin create bot',
    {
      method: 'POST',
      path: `admin/projects/${projectId}/bot`,
      token: admin.token,
      json: { name: `conformance-echo-${runId}`, description: 'conformance', runtimeVersion: 'vmcontext' },
    },
    { label: 'bot', summarise: (raw) => ({ resourceType: (raw.json as { resourceType?: string }).resourceType }) }
  );
  const botId = idOf(botRaw, 'bot');
  const findMembership = async (bot: string, label: string): Promise<string> => {
    const raw = await send({ method: 'GET', path: `fhir/R4/ProjectMembership?profile=Bot/${bot}`, token: admin.token });
    const entry = BundleSchema.parse(raw.json).entry?.[0];
    const id = WithIdSchema.parse(entry?.resource).id;
    norm.name(id, label);
    return id;
  };
  const botMembershipId = await findMembership(botId, 'botMembership');
  const botResource = (await send({ method: 'GET', path: `fhir/R4/Bot/${botId}`, token: admin.token })).json as Record<
    string,
    unknown
  >;
  await step('Bot.rawBody', {
    method: 'PUT',
    path: `fhir/R4/Bot/${botId}`,
    token: admin.token,
    json: { ...botResource, rawBody: true },
  });
  await step(
    'Bot update',
    { method: 'PUT', path: `fhir/R4/Bot/${botId}`, token: admin.token, json: { ...botResource, publicWebhook: false } },
    { summarise: (raw) => ({ publicWebhook: (raw.json as { publicWebhook?: boolean }).publicWebhook }) }
  );
  await step('$deploy', {
    method: 'POST',
    path: `fhir/R4/Bot/${botId}/$deploy`,
    token: admin.token,
    json: { code: ECHO_BOT_CODE, filename: 'index.js' },
  });
  // Medplum presigns every Binary attachment URL it answers with; writing one back stores the Binary reference.
  const deployedBot = await step(
    'Bot read after $deploy',
    { method: 'GET', path: `fhir/R4/Bot/${botId}`, token: admin.token },
    {
      summarise: (raw) => {
        const bot = raw.json as { sourceCode?: { url?: string }; executableCode?: { url?: string; title?: string } };
        return {
          sourceCode: bot.sourceCode?.url,
          executableCode: bot.executableCode?.url,
          title: bot.executableCode?.title,
        };
      },
    }
  );
  const codeUrl = (deployedBot.json as { executableCode?: { url?: string } }).executableCode?.url ?? '';
  await step(
    'presigned URL fetch',
    { method: 'GET', path: codeUrl.startsWith(base) ? codeUrl.slice(base.length) : codeUrl },
    {
      summarise: (raw) => ({ length: raw.text.length, sameCode: raw.text === ECHO_BOT_CODE }),
    }
  );
  await step(
    'presigned URL with a bad signature',
    {
      method: 'GET',
      path: (codeUrl.startsWith(base) ? codeUrl.slice(base.length) : codeUrl).replace(
        /Signature=[^&]+/,
        'Signature=AAAA'
      ),
    },
    { summarise: (raw) => (raw.status === 200 ? '(served)' : '(refused)') }
  );
  await step(
    'Bot written back with its presigned URLs',
    { method: 'PUT', path: `fhir/R4/Bot/${botId}`, token: admin.token, json: deployedBot.json },
    {
      summarise: (raw) => {
        const bot = raw.json as { executableCode?: { url?: string } };
        return { executableCode: bot.executableCode?.url };
      },
    }
  );
  const execute = `fhir/R4/Bot/${botId}/$execute`;
  const withIdentifier = (await send({ method: 'GET', path: `fhir/R4/Bot/${botId}`, token: admin.token }))
    .json as object;
  await send({
    method: 'PUT',
    path: `fhir/R4/Bot/${botId}`,
    token: admin.token,
    json: { ...withIdentifier, identifier: [{ system, value: 'echo' }] },
  });
  await step('$execute by identifier', {
    method: 'POST',
    path: `fhir/R4/Bot/$execute?identifier=${system}|echo`,
    token: admin.token,
    json: { mode: 'echo' },
    contentType: 'application/json',
  });
  await step('$execute by unknown identifier', {
    method: 'POST',
    path: `fhir/R4/Bot/$execute?identifier=${system}|nobody`,
    token: admin.token,
    json: { mode: 'echo' },
    contentType: 'application/json',
  });
  await step('$execute JSON', {
    method: 'POST',
    path: execute,
    token: admin.token,
    json: { mode: 'echo', n: 1 },
    contentType: 'application/json',
  });
  await step('$execute FHIR JSON', {
    method: 'POST',
    path: execute,
    token: admin.token,
    json: { resourceType: 'Patient' },
  });
  await step('$execute text/plain', { method: 'POST', path: execute, token: admin.token, text: 'hello  world\n' });
  await step('$execute text/plain, object result', {
    method: 'POST',
    path: execute,
    token: admin.token,
    text: 'mode=object',
  });
  await step('$execute string result', {
    method: 'POST',
    path: execute,
    token: admin.token,
    json: { mode: 'string' },
    contentType: 'application/json',
  });
  await step('$execute undefined result', {
    method: 'POST',
    path: execute,
    token: admin.token,
    json: { mode: 'undefined' },
    contentType: 'application/json',
  });
  await step('$execute bot throws', {
    method: 'POST',
    path: execute,
    token: admin.token,
    json: { mode: 'throw' },
    contentType: 'application/json',
  });
  await step('$execute GET', { method: 'GET', path: `${execute}?mode=echo&a=1`, token: admin.token });
  await step('$execute repeated form keys', {
    method: 'POST',
    path: execute,
    token: admin.token,
    text: 'a=1&a=2&mode=echo',
    contentType: 'application/x-www-form-urlencoded',
  });

  const webhook = `webhook/${botMembershipId}`;
  const setPublic = async (publicWebhook: boolean): Promise<void> => {
    const current = (await send({ method: 'GET', path: `fhir/R4/Bot/${botId}`, token: admin.token })).json as object;
    await send({
      method: 'PUT',
      path: `fhir/R4/Bot/${botId}`,
      token: admin.token,
      json: { ...current, publicWebhook },
    });
  };
  await setPublic(true);
  await step('webhook, membership without policy', { method: 'POST', path: webhook, json: { mode: 'echo' } });
  const membership = (
    await send({ method: 'GET', path: `admin/projects/${projectId}/members/${botMembershipId}`, token: admin.token })
  ).json as Record<string, unknown>;
  await step(
    'admin update membership',
    {
      method: 'POST',
      path: `admin/projects/${projectId}/members/${botMembershipId}`,
      token: admin.token,
      json: { ...membership, accessPolicy: { reference: `AccessPolicy/${policy}` } },
    },
    { summarise: (raw) => ({ accessPolicy: (raw.json as { accessPolicy?: unknown }).accessPolicy }) }
  );
  await setPublic(false);
  await step('webhook, bot not public', { method: 'POST', path: webhook, json: { mode: 'echo' } });
  await setPublic(true);
  await step('webhook JSON', { method: 'POST', path: webhook, json: { mode: 'echo', user_id: 1, trace_id: 'x' } });
  await step('webhook JSON with arrays', {
    method: 'POST',
    path: webhook,
    json: { mode: 'echo', list: [1, 'two', { three: 3 }], nested: { deep: [[1], []] } },
  });
  await step('webhook text/plain', { method: 'POST', path: webhook, text: '{"user_id": 1,  "type":"sleep.updated"}' });
  await step('webhook repeated form keys', {
    method: 'POST',
    path: webhook,
    text: 'a=1&a=2',
    contentType: 'application/x-www-form-urlencoded',
  });
  await step('webhook string result', { method: 'POST', path: webhook, json: { mode: 'string' } });
  await step('webhook GET', { method: 'GET', path: webhook });
  await step('webhook HEAD', { method: 'HEAD', path: webhook });
  await step('webhook unknown membership', { method: 'POST', path: `webhook/${missing}`, json: { mode: 'echo' } });
  await step('webhook non-bot membership', {
    method: 'POST',
    path: `webhook/${findAdminMembershipPlaceholder()}`,
    json: {},
  });
  await step('webhook text/plain body over 100 kB', {
    method: 'POST',
    path: webhook,
    text: 'x'.repeat(100 * 1024 + 10),
  });
  await step('webhook form body over 100 kB', {
    method: 'POST',
    path: webhook,
    text: 'a=' + 'x'.repeat(100 * 1024 + 10),
    contentType: 'application/x-www-form-urlencoded',
  });
  await step('webhook JSON body of 500 kB', {
    method: 'POST',
    path: webhook,
    json: { mode: 'string', pad: 'x'.repeat(500 * 1024) },
  });
  await step('webhook body over 1 MB', { method: 'POST', path: webhook, text: 'x'.repeat(1024 * 1024 + 10) });

  // A rest-hook subscription to the bot: which entities its AuditEvent names.
  await step(
    'create subscription',
    {
      method: 'POST',
      path: 'fhir/R4/Subscription',
      token: admin.token,
      json: {
        resourceType: 'Subscription',
        status: 'active',
        reason: 'conformance',
        criteria: `Patient?identifier=${system}|trigger`,
        channel: { type: 'rest-hook', endpoint: `Bot/${botId}`, payload: 'application/fhir+json' },
      },
    },
    { summarise: (raw) => ({ status: (raw.json as { status?: string }).status }) }
  );
  idOf(
    await step(
      'subscription trigger write',
      {
        method: 'POST',
        path: 'fhir/R4/Patient',
        token: admin.token,
        json: { resourceType: 'Patient', identifier: [{ system, value: 'trigger' }] },
      },
      { label: 'triggerPatient' }
    ),
    'triggerPatient'
  );
  const deadline = Date.now() + (options.subscriptionDeadlineMs ?? 20_000);
  let audit: unknown = '(no AuditEvent for the subscription run before the deadline)';
  while (Date.now() < deadline) {
    const raw = await send({
      method: 'GET',
      path: `fhir/R4/AuditEvent?entity=Bot/${botId}&_count=100&_sort=-_lastUpdated`,
      token: admin.token,
    });
    const events = (BundleSchema.parse(raw.json).entry ?? []).map((e) => e.resource as Record<string, unknown>);
    const run = events.find((e) => JSON.stringify(e.entity ?? []).includes('Subscription/'));
    if (run) {
      audit = {
        type: run.type,
        action: run.action,
        outcome: run.outcome,
        entity: run.entity,
        // The requester's display is the admin client's name, which differs between servers.
        agent: (Array.isArray(run.agent) ? (run.agent as { who?: { reference?: string } }[]) : []).map((a) =>
          a.who?.reference?.startsWith('ClientApplication/')
            ? { ...a, who: { reference: a.who.reference, display: '<admin client name>' } }
            : a
        ),
        source: run.source,
      };
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  exchanges.push({
    name: 'subscription-triggered bot AuditEvent',
    request: 'GET fhir/R4/AuditEvent?entity=Bot/<bot>',
    status: 200,
    contentType: null,
    headers: {},
    body: norm.value(audit),
  });

  // The work-queue pattern Baseline's sync relies on (data/core/subscriptions.ts): one subscription for Tasks created
  // `requested`, one for Tasks updated back to `requested` (FHIRPath on %previous). Which writes run the bot?
  const queued = `Task?code=${system}|work&status=requested`;
  const interaction = (code: string): unknown => ({
    url: 'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction',
    valueCode: code,
  });
  for (const [kind, extension] of [
    ['create', [interaction('create')]],
    [
      'update',
      [
        interaction('update'),
        {
          url: 'https://medplum.com/fhir/StructureDefinition/fhir-path-criteria-expression',
          valueString: "%previous.status != 'requested'",
        },
      ],
    ],
  ] as const) {
    await send({
      method: 'POST',
      path: 'fhir/R4/Subscription',
      token: admin.token,
      json: {
        resourceType: 'Subscription',
        status: 'active',
        reason: `conformance work queue (${kind})`,
        criteria: queued,
        channel: { type: 'rest-hook', endpoint: `Bot/${botId}`, payload: 'application/fhir+json' },
        extension,
      },
    });
  }
  const task = (status: string, id?: string, note?: string): unknown => ({
    resourceType: 'Task',
    ...(id ? { id } : {}),
    status,
    intent: 'order',
    code: { coding: [{ system, code: 'work' }] },
    ...(note ? { note: [{ text: note }] } : {}),
  });
  const writeTask = async (label: string, json: unknown, id?: string): Promise<string> => {
    const raw = await send({
      method: id ? 'PUT' : 'POST',
      path: id ? `fhir/R4/Task/${id}` : 'fhir/R4/Task',
      token: admin.token,
      json,
    });
    return id ?? idOf(raw, label);
  };
  const t1 = await writeTask('taskRequested', task('requested'));
  await writeTask('taskRequested', task('requested', t1, 'an unrelated update'), t1);
  await writeTask('taskRequested', task('in-progress', t1), t1);
  await writeTask('taskRequested', task('requested', t1), t1);
  const t2 = await writeTask('taskDraft', task('draft'));
  await writeTask('taskDraft', task('requested', t2), t2);
  await send({ method: 'DELETE', path: `fhir/R4/Task/${t2}`, token: admin.token });
  // A last run to wait for: when its AuditEvent exists, the runs queued before it have had their turn.
  const sentinel = await writeTask('taskSentinel', task('requested'));
  const runsOf = async (id: string): Promise<number> => {
    const raw = await send({
      method: 'GET',
      path: `fhir/R4/AuditEvent?entity=Task/${id}&_count=100&_summary=count`,
      token: admin.token,
    });
    return BundleSchema.parse(raw.json).total ?? 0;
  };
  const queueDeadline = Date.now() + (options.subscriptionDeadlineMs ?? 20_000);
  while (Date.now() < queueDeadline && (await runsOf(sentinel)) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  exchanges.push({
    name: 'work-queue subscriptions: bot runs per Task',
    request: 'GET fhir/R4/AuditEvent?entity=Task/<id>',
    status: 200,
    contentType: null,
    headers: {},
    body: {
      'created requested, updated requested→requested, →in-progress, →requested': await runsOf(t1),
      'created draft, updated →requested, deleted': await runsOf(t2),
      sentinel: await runsOf(sentinel),
    },
  });

  // -------------------------------------------------------------------------------------------------------------
  // FHIR quota, with a fresh client (its own membership, its own budget)

  const quotaClient = ClientSchema.parse(
    (
      await send({
        method: 'POST',
        path: `admin/projects/${projectId}/client`,
        token: admin.token,
        json: { name: `conformance-quota-${runId}` },
      })
    ).json
  );
  const quotaToken = await token(quotaClient.id, quotaClient.secret);
  const first = await step(
    'quota: first search',
    { method: 'GET', path: 'fhir/R4/Patient?_count=1', token: quotaToken },
    {
      keepQuota: true,
      summarise: () => '-',
    }
  );
  const remaining = fhirRemaining(first.headers.get('ratelimit')) ?? 0;
  const entries = Math.min(Math.floor(remaining / 20) + 2, 20_000);
  await step(
    'quota: batch of searches past the budget',
    {
      method: 'POST',
      path: 'fhir/R4',
      token: quotaToken,
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: Array.from({ length: entries }, () => ({ request: { method: 'GET', url: 'Patient?_count=0' } })),
      },
    },
    { keepQuota: true, summarise: batchView }
  );
  await step(
    'quota: search over the budget',
    { method: 'GET', path: 'fhir/R4/Patient?_count=1', token: quotaToken },
    {
      keepQuota: true,
    }
  );
  await step(
    'quota: write over the budget',
    {
      method: 'POST',
      path: 'fhir/R4/Patient',
      token: quotaToken,
      json: { resourceType: 'Patient' },
    },
    { keepQuota: true }
  );
  await step(
    'quota: batch over the budget',
    {
      method: 'POST',
      path: 'fhir/R4',
      token: quotaToken,
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${patientA}` } },
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
        ],
      },
    },
    { keepQuota: true, summarise: batchView }
  );
  await step(
    'quota: metadata has no FHIR quota header',
    { method: 'GET', path: 'fhir/R4/metadata', token: quotaToken },
    {
      summarise: () => '-',
    }
  );
  await step(
    'quota: auth/me has no FHIR quota header',
    { method: 'GET', path: 'auth/me', token: quotaToken },
    {
      summarise: () => '-',
    }
  );
  await step(
    'quota: admin client unaffected',
    { method: 'GET', path: `fhir/R4/Patient/${patientA}`, token: admin.token },
    {
      summarise: () => '-',
    }
  );
  return exchanges;

  function findAdminMembershipPlaceholder(): string {
    // A real membership that is not a bot's: the quota client's does not exist yet, so use the admin's own profile id
    // from auth/me when present, else a random id (both must be refused).
    const m = (meRaw.json as { membership?: { id?: string } } | undefined)?.membership?.id;
    if (m) {
      norm.name(m, 'adminMembership');
      return m;
    }
    return missing;
  }
}

/** A recording file: the normalised answers of one run against a reference server. */
export const Recording = z.object({
  recordedAt: z.string(),
  server: z.string(),
  exchanges: z.array(
    z.object({
      name: z.string(),
      request: z.string(),
      status: z.number(),
      contentType: z.string().nullable(),
      headers: z.record(z.string(), z.string().nullable()),
      points: z.union([z.number(), z.literal('window-reset')]).optional(),
      body: z.unknown(),
    })
  ),
});
export type Recording = z.infer<typeof Recording>;
