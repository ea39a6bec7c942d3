/**
 * Makes two servers' answers comparable: what differs by nature between servers and runs (ids, server-set times,
 * version ids, base URLs, quota timing, trace ids) is replaced by stable placeholders; everything else is kept exactly.
 */

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Server-set timestamps carry milliseconds; the suite's fixture dates never do, so they survive. */
const SERVER_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(?:Z|[+-]\d{2}:\d{2})/g;
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

export interface Normaliser {
  /** Names an id the suite created, so it reads `<patientA>` in every answer. */
  name(id: string, label: string): void;
  text(value: string): string;
  value(value: unknown): unknown;
}

export function createNormaliser(baseUrl: string, runId: string): Normaliser {
  const labels = new Map<string, string>();
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const text = (value: string): string => {
    let out = value.split(base).join('<base>/');
    out = out.split(base.slice(0, -1)).join('<base>');
    out = out.split(runId).join('<run>');
    out = out.replace(UUID, (id) => labels.get(id.toLowerCase()) ?? '<uuid>');
    out = out.replace(SERVER_TIME, '<time>');
    // Cursor paging links carry an instant (and ids): keep that a cursor is used, not its value.
    out = out.replace(/_cursor=[^&\s"]+/g, '_cursor=<cursor>');
    // Presigned storage URLs: an expiry an hour from now and a signature over it.
    out = out
      .replace(/Expires=\d+/g, 'Expires=<expires>')
      .replace(/Signature=(?!AAAA\b)[^&\s"]+/g, 'Signature=<signature>');
    if (HTTP_DATE.test(out)) {
      out = '<http-date>';
    }
    return diagnostics(out);
  };
  const value = (input: unknown): unknown => {
    if (typeof input === 'string') {
      return text(input);
    }
    if (Array.isArray(input)) {
      return input.map(value);
    }
    if (input && typeof input === 'object') {
      return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, value(v)]));
    }
    return input;
  };
  return {
    name(id, label) {
      labels.set(id.toLowerCase(), `<${label}>`);
    },
    text,
    value,
  };
}

/** The quota's 429 diagnostics are the limiter's JSON: keep the counts, mask the time to reset. */
function diagnostics(text: string): string {
  if (!text.startsWith('{"_remainingPoints"')) {
    return text;
  }
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    if ('_msBeforeNext' in parsed) {
      parsed._msBeforeNext = '<ms>';
    }
    return JSON.stringify(parsed);
  } catch {
    return text;
  }
}

/** `"requests";r=59990;t=31, "fhirInteractions";r=49980;t=60` → names and, if asked, the remaining points. */
export function normaliseRateLimit(header: string | null, keepFhirRemaining: boolean): string | null {
  if (header === null) {
    return null;
  }
  return header
    .split(/,\s*/)
    .map((part) => {
      const m = /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(part.trim());
      if (!m) {
        return part;
      }
      const keep = keepFhirRemaining && m[1] === 'fhirInteractions';
      return `"${m[1]}";r=${keep ? m[2] : '<r>'};t=<t>`;
    })
    .join(', ');
}

/** The `fhirInteractions` remaining points in a RateLimit header, if any. */
export function fhirRemaining(header: string | null): number | undefined {
  const m = /"fhirInteractions";r=(\d+)/.exec(header ?? '');
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
