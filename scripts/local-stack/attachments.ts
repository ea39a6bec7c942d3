/**
 * Medplum's attachment URL handling (packages/server/src/fhir/rewrite.ts, storage/routes.ts):
 * - on the way out, every `url`/`path` property that names a Binary (`Binary/<id>`, `<base>fhir/R4/Binary/<id>`, a
 *   storage URL) is replaced by a presigned storage URL, `<base>storage/<id>/<versionId>?Expires=<s>&Signature=<sig>`,
 *   valid for an hour; the Binary is read as the caller (one FHIR quota point each; a Binary the caller cannot read
 *   stays `Binary/<id>`);
 * - on the way in, such URLs are stored as the `Binary/<id>` reference again (so a resource read, changed and written
 *   back keeps pointing at its Binary);
 * - `GET /storage/:id/:versionId` serves the Binary's bytes when the signature and expiry check out.
 * Binary resources themselves are never rewritten.
 */
import { createSign, createVerify } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Binary } from '@medplum/fhirtypes';
import type { StackContext } from './context.ts';
import type { LocalRepository } from './fhir/index.ts';
import { sendText } from './http.ts';

const PRESIGNED_SECONDS = 3600;

interface BinaryUrl {
  id: string;
  versionId?: string;
}

/** Medplum's normalizeBinaryUrl: which Binary (and version) a URL names, if any. */
export function parseBinaryUrl(baseUrl: string, url: string): BinaryUrl | undefined {
  let rest: string | undefined;
  const fhirBinary = `${baseUrl}fhir/R4/Binary/`;
  const storage = `${baseUrl}storage/`;
  if (url.startsWith(fhirBinary)) {
    rest = url.slice(fhirBinary.length);
  } else if (url.startsWith(storage)) {
    rest = url.slice(storage.length);
  } else if (url.startsWith('Binary/')) {
    rest = url.slice('Binary/'.length);
  }
  if (!rest) {
    return undefined;
  }
  const path = rest.split('?')[0] ?? '';
  const parts = path.split('/').filter(Boolean);
  const id = parts[0];
  if (!id) {
    return undefined;
  }
  const versionId = parts[1] === '_history' ? parts[2] : parts[1];
  return { id, ...(versionId ? { versionId } : {}) };
}

/** A storage URL for one Binary version, valid for an hour (Medplum's getPresignedUrl). */
export function signUrl(ctx: StackContext, id: string, versionId: string): string {
  const expires = Math.floor(Date.now() / 1000) + PRESIGNED_SECONDS;
  const unsigned = `${ctx.baseUrl}storage/${id}/${versionId}?Expires=${expires}`;
  const signer = createSign('sha256');
  signer.update(unsigned);
  const signature = signer.sign(ctx.keys.privateKey, 'base64');
  return `${unsigned}&Signature=${encodeURIComponent(signature)}`;
}

type Rewrite = (value: string) => Promise<string | undefined>;

async function rewrite(value: unknown, key: string, fn: Rewrite): Promise<unknown> {
  if (typeof value === 'string') {
    return (key === 'url' || key === 'path' ? await fn(value) : undefined) ?? value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      out.push(await rewrite(item, key, fn));
    }
    return out;
  }
  if (value && typeof value === 'object') {
    if ((value as { resourceType?: string }).resourceType === 'Binary') {
      return value;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = await rewrite(v, k, fn);
    }
    return out;
  }
  return value;
}

/** Presigns every Binary URL in a FHIR response, reading each distinct Binary once as the caller. */
export async function presignAttachments<T>(ctx: StackContext, repo: LocalRepository, body: T): Promise<T> {
  const cache = new Map<string, string>();
  return (await rewrite(body, '', async (url) => {
    const binary = parseBinaryUrl(ctx.baseUrl, url);
    if (!binary) {
      return undefined;
    }
    const cached = cache.get(url);
    if (cached) {
      return cached;
    }
    let result: string;
    try {
      const read = binary.versionId
        ? await repo.readVersion<Binary>('Binary', binary.id, binary.versionId)
        : await repo.readResource<Binary>('Binary', binary.id);
      result = signUrl(ctx, read.id, read.meta?.versionId ?? binary.versionId ?? '');
    } catch {
      result = `Binary/${binary.id}`;
    }
    cache.set(url, result);
    return result;
  })) as T;
}

/** The reverse, for writes: a presigned or FHIR URL of a Binary is stored as `Binary/<id>`. */
export function referenceAttachments<T>(baseUrl: string, body: T): T {
  const walk = (value: unknown, key: string): unknown => {
    if (typeof value === 'string') {
      const binary = key === 'url' || key === 'path' ? parseBinaryUrl(baseUrl, value) : undefined;
      return binary ? `Binary/${binary.id}` : value;
    }
    if (Array.isArray(value)) {
      return value.map((item) => walk(item, key));
    }
    if (value && typeof value === 'object') {
      if ((value as { resourceType?: string }).resourceType === 'Binary') {
        return value;
      }
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(body, '') as T;
}

/** `GET /storage/:id/:versionId?Expires=…&Signature=…`: the Binary's bytes, as Medplum's storage route answers. */
export async function handleStorage(
  ctx: StackContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL
): Promise<void> {
  const signature = url.searchParams.get('Signature');
  if (!signature) {
    sendText(res, 401, 'Unauthorized');
    return;
  }
  const expires = url.searchParams.get('Expires');
  if (!expires || Math.floor(Date.now() / 1000) > Number.parseInt(expires, 10)) {
    sendText(res, 410, 'URL has expired', 'text/html');
    return;
  }
  const unsigned = new URL(url);
  unsigned.searchParams.delete('Signature');
  const verifier = createVerify('sha256');
  verifier.update(unsigned.toString());
  if (!verifier.verify(ctx.keys.publicKey, signature, 'base64')) {
    sendText(res, 401, 'Invalid signature', 'text/html');
    return;
  }
  const id = url.pathname.split('/')[2] ?? '';
  const binary = await ctx.system.readResource<Binary>('Binary', id);
  const bytes = Buffer.from(binary.data ?? '', 'base64');
  const type = binary.contentType ?? 'application/octet-stream';
  // Express adds a charset only to textual types.
  const textual = type.startsWith('text/') || type === 'application/json' || type === 'application/javascript';
  res.writeHead(200, {
    'Content-Type': textual ? `${type}; charset=utf-8` : type,
    'Content-Length': bytes.length,
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}
