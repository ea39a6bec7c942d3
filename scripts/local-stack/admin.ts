/**
 * The local stack's slice of Medplum's admin API (`/admin/projects/:projectId/...`): create a bot (with its own
 * ProjectMembership), create a client application (with membership + generated secret), invite a user, read and
 * update memberships, replace Project secrets. Project-admin only, as on Medplum.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  badRequest,
  createReference,
  forbidden,
  getReferenceString,
  notFound,
  OperationOutcomeError,
} from '@medplum/core';
import type { WithId } from '@medplum/core';
import type {
  AccessPolicy,
  Binary,
  Bot,
  ClientApplication,
  Patient,
  Practitioner,
  ProjectMembership,
  ProjectSetting,
  Reference,
  RelatedPerson,
  User,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import { authenticate, loadProject } from './auth.ts';
import type { Caller, StackContext } from './context.ts';
import { parseBody, readBody, sendJson } from './http.ts';
import { hashPassword } from './passwords.ts';

const ReferenceSchema = z.object({ reference: z.string(), display: z.string().optional() });

const CreateBotRequest = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  accessPolicy: ReferenceSchema.optional(),
  runtimeVersion: z.enum(['awslambda', 'vmcontext', 'fission']).optional(),
});

const CreateClientRequest = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  redirectUri: z.string().optional(),
  redirectUris: z.array(z.string()).optional(),
  accessPolicy: ReferenceSchema.optional(),
});

const MembershipFields = z
  .object({
    accessPolicy: ReferenceSchema.optional(),
    access: z
      .array(
        z.object({
          policy: ReferenceSchema,
          parameter: z
            .array(
              z.object({
                name: z.string(),
                valueReference: ReferenceSchema.optional(),
                valueString: z.string().optional(),
              })
            )
            .optional(),
        })
      )
      .optional(),
    admin: z.boolean().optional(),
  })
  .passthrough();

const InviteRequest = z.object({
  resourceType: z.enum(['Patient', 'Practitioner', 'RelatedPerson']),
  firstName: z.string().min(1),
  lastName: z.string().min(1),
  email: z.string().email(),
  password: z.string().min(8).optional(),
  sendEmail: z.boolean().optional(),
  membership: MembershipFields.optional(),
  // Deprecated top-level forms Medplum still accepts.
  accessPolicy: ReferenceSchema.optional(),
  admin: z.boolean().optional(),
  upsert: z.boolean().optional(),
});

const SecretsRequest = z.array(
  z.object({
    name: z.string().min(1),
    valueString: z.string().optional(),
    valueBoolean: z.boolean().optional(),
    valueDecimal: z.number().optional(),
    valueInteger: z.number().optional(),
  })
);

function parseOrBadRequest<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new OperationOutcomeError(badRequest(`Invalid ${what}: ${detail}`));
  }
  return parsed.data;
}

/** The default source Medplum writes for a new bot. */
const DEFAULT_BOT_SOURCE = `import { BotEvent, MedplumClient } from '@medplum/core';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<any> {
  // Your code here
}
`;

export async function createBot(ctx: StackContext, request: z.infer<typeof CreateBotRequest>): Promise<WithId<Bot>> {
  const source = await ctx.system.createResource<Binary>({
    resourceType: 'Binary',
    contentType: 'text/typescript',
    data: Buffer.from(DEFAULT_BOT_SOURCE).toString('base64'),
  });
  const bot = await ctx.system.createResource<Bot>({
    resourceType: 'Bot',
    name: request.name,
    ...(request.description ? { description: request.description } : {}),
    runtimeVersion: request.runtimeVersion ?? 'vmcontext',
    sourceCode: { contentType: 'text/typescript', title: 'index.ts', url: getReferenceString(source) },
  });
  await ctx.system.createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${ctx.projectId}` },
    user: createReference(bot),
    profile: createReference(bot),
    ...(request.accessPolicy ? { accessPolicy: request.accessPolicy as Reference<AccessPolicy> } : {}),
  });
  return bot;
}

export async function createClientApplication(
  ctx: Pick<StackContext, 'system' | 'projectId'>,
  request: z.infer<typeof CreateClientRequest>
): Promise<WithId<ClientApplication>> {
  const redirectUris = request.redirectUris ?? (request.redirectUri ? [request.redirectUri] : undefined);
  const client = await ctx.system.createResource<ClientApplication>({
    resourceType: 'ClientApplication',
    name: request.name,
    ...(request.description ? { description: request.description } : {}),
    secret: randomBytes(32).toString('hex'),
    ...(redirectUris ? { redirectUris } : {}),
  });
  await ctx.system.createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${ctx.projectId}` },
    user: createReference(client),
    profile: createReference(client),
    ...(request.accessPolicy ? { accessPolicy: request.accessPolicy as Reference<AccessPolicy> } : {}),
  });
  return client;
}

/** Creates (or with `upsert`, updates) the profile, User and ProjectMembership of an invited person. */
export async function inviteUser(
  ctx: StackContext,
  request: z.infer<typeof InviteRequest>
): Promise<WithId<ProjectMembership>> {
  const email = request.email.toLowerCase();
  let user = await ctx.system.searchOne<User>({
    resourceType: 'User',
    filters: [{ code: 'email', operator: 'eq' as never, value: email }],
  });
  if (!user) {
    user = await ctx.system.createResource<User>({
      resourceType: 'User',
      firstName: request.firstName,
      lastName: request.lastName,
      email,
      ...(request.password ? { passwordHash: hashPassword(request.password) } : {}),
      // Patients are project-scoped users on Medplum.
      ...(request.resourceType === 'Patient' ? { project: { reference: `Project/${ctx.projectId}` } } : {}),
    });
  } else if (request.password) {
    user = await ctx.system.updateResource<User>({ ...user, passwordHash: hashPassword(request.password) });
  }
  const existing = await ctx.system.searchOne<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'user', operator: 'eq' as never, value: getReferenceString(user) }],
  });
  const fields = {
    ...(request.accessPolicy ? { accessPolicy: request.accessPolicy } : {}),
    ...(request.admin !== undefined ? { admin: request.admin } : {}),
    ...(request.membership ?? {}),
  } as Partial<ProjectMembership>;
  if (existing) {
    if (!request.upsert) {
      return existing;
    }
    return ctx.system.updateResource<ProjectMembership>({ ...existing, ...fields, id: existing.id });
  }
  const profile = await ctx.system.createResource<Patient | Practitioner | RelatedPerson>({
    resourceType: request.resourceType,
    name: [{ given: [request.firstName], family: request.lastName }],
    telecom: [{ system: 'email', use: 'home', value: email }],
  } as Patient);
  return ctx.system.createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    ...fields,
    project: { reference: `Project/${ctx.projectId}` },
    user: createReference(user),
    profile: createReference(profile) as Reference<Patient>,
  });
}

function requireAdmin(caller: Caller, projectId: string, ctx: StackContext): void {
  if (projectId !== ctx.projectId || !caller.membership.admin) {
    throw new OperationOutcomeError(forbidden);
  }
}

/** Handles `/admin/...` routes; returns false when the path is not one of them. */
export async function handleAdminRoute(
  ctx: StackContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL
): Promise<boolean> {
  const match = /^\/admin\/projects\/([^/]+)(?:\/(bot|client|invite|secrets|members)(?:\/([^/]+))?)?\/?$/.exec(
    url.pathname
  );
  if (!match) {
    return false;
  }
  const [, projectId = '', action, memberId] = match;
  const caller = await authenticate(ctx, req);
  requireAdmin(caller, projectId, ctx);
  const method = req.method ?? 'GET';

  if (!action && method === 'GET') {
    const project = await loadProject(ctx);
    const members = await ctx.system.searchResources<ProjectMembership>({
      resourceType: 'ProjectMembership',
      count: 1000,
    });
    sendJson(
      res,
      200,
      { project: { id: project.id, name: project.name, features: project.features }, members },
      'application/json'
    );
    return true;
  }
  if (action === 'bot' && method === 'POST') {
    const request = parseOrBadRequest(CreateBotRequest, parseBody(await readBody(req)), 'bot request');
    // Medplum creates the source Binary and the Bot as the caller (two writes of FHIR quota), the membership as system.
    caller.rateLimiter?.recordWrite();
    caller.rateLimiter?.recordWrite();
    sendJson(res, 201, await createBot(ctx, request), 'application/json');
    return true;
  }
  if (action === 'client' && method === 'POST') {
    const request = parseOrBadRequest(CreateClientRequest, parseBody(await readBody(req)), 'client request');
    sendJson(res, 201, await createClientApplication(ctx, request), 'application/json');
    return true;
  }
  if (action === 'invite' && method === 'POST') {
    const request = parseOrBadRequest(InviteRequest, parseBody(await readBody(req)), 'invite request');
    sendJson(res, 200, await inviteUser(ctx, request), 'application/json');
    return true;
  }
  if (action === 'secrets' && method === 'POST') {
    const secret = parseOrBadRequest(SecretsRequest, parseBody(await readBody(req)), 'secrets') as ProjectSetting[];
    const project = await loadProject(ctx);
    await ctx.system.updateResource({ ...project, secret });
    sendJson(res, 200, { ok: true }, 'application/json');
    return true;
  }
  if (action === 'members' && memberId) {
    const existing = await ctx.system.readResource<ProjectMembership>('ProjectMembership', memberId).catch(() => {
      throw new OperationOutcomeError(notFound);
    });
    if (method === 'GET') {
      sendJson(res, 200, existing, 'application/json');
      return true;
    }
    if (method === 'POST') {
      const body = parseBody(await readBody(req)) as ProjectMembership | undefined;
      if (
        body?.resourceType !== 'ProjectMembership' ||
        body.id !== memberId ||
        body.project?.reference !== existing.project?.reference
      ) {
        throw new OperationOutcomeError(badRequest('Incorrect membership'));
      }
      // `project`, `user` and `profile` are not changeable through this endpoint.
      const updated = await ctx.system.updateResource<ProjectMembership>({
        ...body,
        project: existing.project,
        user: existing.user,
        profile: existing.profile,
      });
      sendJson(res, 200, updated, 'application/json');
      return true;
    }
    if (method === 'DELETE') {
      await ctx.system.deleteResource('ProjectMembership', memberId);
      sendJson(res, 200, { ok: true }, 'application/json');
      return true;
    }
  }
  throw new OperationOutcomeError(notFound);
}

export { CreateBotRequest, CreateClientRequest, InviteRequest };
