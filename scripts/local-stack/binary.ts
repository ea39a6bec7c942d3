/**
 * Medplum's Binary write route (packages/server/src/fhir/binary.ts): `POST /fhir/R4/Binary` and
 * `PUT /fhir/R4/Binary/:id` take the request body as the content, whatever its type, and answer with the Binary and
 * a presigned `url`. This is what `MedplumClient.createAttachment` (and so `medplum bot deploy`, which uploads the
 * bot's source this way) relies on. The one exception, as on Medplum: a body sent as exactly
 * `application/fhir+json` that is itself a Binary resource is written as that resource.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isResource } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { Binary } from '@medplum/fhirtypes';
import { signUrl } from './attachments.ts';
import type { Caller, StackContext } from './context.ts';
import { readBodyBytes, sendJson } from './http.ts';

/**
 * Medplum streams Binary uploads to its storage without a body-parser limit; the stand-in keeps the bytes in its
 * journal, so it caps them well above anything Baseline uploads (bot sources and bundles are tens of kB).
 */
export const MAX_BINARY_BYTES = 16 * 1024 * 1024;

const FHIR_JSON = 'application/fhir+json';

/** `Binary` (POST) or `Binary/<id>` (PUT): the id to write, or undefined when this is not a Binary write. */
export function binaryWriteTarget(method: string, fhirPath: string): { id?: string } | undefined {
  const match = /^Binary(?:\/([^/$]+))?\/?$/.exec(fhirPath);
  if (!match) {
    return undefined;
  }
  if (method === 'POST' && !match[1]) {
    return {};
  }
  if (method === 'PUT' && match[1]) {
    return { id: match[1] };
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON: stored as content, as Medplum does.
    return undefined;
  }
}

export async function handleBinaryWrite(
  ctx: StackContext,
  caller: Caller,
  req: IncomingMessage,
  res: ServerResponse,
  target: { id?: string }
): Promise<void> {
  const create = target.id === undefined;
  const bytes = await readBodyBytes(req, MAX_BINARY_BYTES);
  // Medplum compares the whole header, so `application/fhir+json; charset=utf-8` is stored as content.
  const contentType = req.headers['content-type'];
  let binary: WithId<Binary>;
  const body = contentType === FHIR_JSON ? parseJson(bytes.toString('utf8')) : undefined;
  const resourceBody = isResource(body, 'Binary') ? (body as Binary) : undefined;
  if (resourceBody && (create || resourceBody.id === target.id)) {
    binary = create
      ? await caller.repo.createResource<Binary>(resourceBody)
      : await caller.repo.updateResource<Binary>(resourceBody);
  } else {
    const securityContext = req.headers['x-security-context'];
    const resource: Binary = {
      resourceType: 'Binary',
      ...(target.id ? { id: target.id } : {}),
      contentType: contentType ?? 'application/octet-stream',
      ...(typeof securityContext === 'string' ? { securityContext: { reference: securityContext } } : {}),
      // Medplum writes the bytes to its storage (named by `_filename`); the stand-in keeps them in the resource.
      data: bytes.toString('base64'),
    };
    const stored = create ? await caller.repo.createResource(resource) : await caller.repo.updateResource(resource);
    // Medplum's answer carries no `data` (it is in storage), only a presigned URL to it.
    binary = { ...stored, url: signUrl(ctx, stored.id, stored.meta?.versionId ?? '') };
    delete binary.data;
  }
  if (binary.meta?.versionId) {
    res.setHeader('ETag', `W/"${binary.meta.versionId}"`);
  }
  if (binary.meta?.lastUpdated) {
    res.setHeader('Last-Modified', new Date(binary.meta.lastUpdated).toUTCString());
  }
  if (create) {
    res.setHeader('Location', new URL(`fhir/R4/Binary/${binary.id}`, ctx.baseUrl).toString());
  }
  sendJson(res, create ? 201 : 200, binary);
}
