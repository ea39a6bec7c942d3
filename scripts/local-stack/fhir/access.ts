/**
 * Builds the effective AccessPolicy of a ProjectMembership the way the Medplum server does on every request
 * (packages/server/src/fhir/accesspolicy.ts: buildAccessPolicy + applyProjectAdminAccessPolicy):
 *
 * - every policy (`accessPolicy` and each `access[]` entry) is read and its JSON text gets parameter substitution, in
 *   declaration order: `%name.id` → the id of `valueReference`, then `%name` → the reference string (or `valueString`);
 *   built-ins `%profile` (the membership profile) and `%patient` (the profile, unless a `patient` parameter is given)
 *   come after the membership's own parameters;
 * - all resource entries are concatenated (union semantics: one broad entry anywhere grants that type in full);
 *   deprecated `readonly` entries become read/vread/history/search; the last non-empty `compartment` wins;
 * - a membership with no policy at all gets `{ resourceType: '*' }` (Medplum's legacy default);
 * - SearchParameter and StructureDefinition are always readable;
 * - project-admin types (AccessPolicy, Project, ProjectMembership, User, ...) are stripped from every policy; admins
 *   get Medplum's fixed admin entries back (own Project read/update with readonly `features`, hidden secrets;
 *   ProjectMembership of the project with readonly `project`/`user`; User with hidden `passwordHash`/`mfaSecret`);
 *   super admins keep/get them unrestricted. `*` never matches those types (core's access.ts enforces that).
 *
 * Medplum does not hide `ClientApplication.secret` from non-admins by itself, and neither does this: a policy that
 * grants ClientApplication must list `hiddenFields: ['secret', 'retiringSecret']`, so a missing entry shows up here
 * exactly as it would in production.
 */
import { badRequest, OperationOutcomeError, projectAdminResourceTypes, resolveId } from '@medplum/core';
import type {
  AccessPolicy,
  AccessPolicyResource,
  ProjectMembership,
  ProjectMembershipAccess,
  ProjectMembershipAccessParameter,
  Reference,
} from '@medplum/fhirtypes';

/** Options that come from the Project rather than the membership. */
export interface BuildAccessPolicyOptions {
  /** The membership's project is the super-admin project. */
  superAdmin?: boolean;
}

/**
 * @param membership - The caller's membership (its `accessPolicy`, `access[]`, `profile`, `admin`, `project`).
 * @param readPolicy - Reads a policy by reference (as system); undefined when it does not exist.
 * @param options - Project-level flags.
 * @returns The merged, parameter-substituted policy with admin rules applied.
 */
export function buildAccessPolicy(
  membership: ProjectMembership,
  readPolicy: (ref: Reference<AccessPolicy>) => AccessPolicy | undefined,
  options?: BuildAccessPolicyOptions
): AccessPolicy & { resource: AccessPolicyResource[] } {
  const access: ProjectMembershipAccess[] = [];
  if (membership.accessPolicy) {
    access.push({ policy: membership.accessPolicy });
  }
  access.push(...(membership.access ?? []));

  let compartment: Reference | undefined;
  const resource: AccessPolicyResource[] = [];
  for (const entry of access) {
    const replaced = substitute(entry, membership.profile, readPolicy);
    if (replaced.compartment) {
      compartment = replaced.compartment;
    }
    for (const policy of replaced.resource ?? []) {
      if (!policy.interaction && policy.readonly) {
        policy.interaction = ['search', 'read', 'history', 'vread'];
      }
      resource.push(policy);
    }
  }

  if (access.length === 0) {
    resource.push({ resourceType: '*' });
  }

  for (const resourceType of ['SearchParameter', 'StructureDefinition']) {
    if (!resource.some((r) => r.resourceType === resourceType)) {
      resource.push({ resourceType, readonly: true });
    }
  }

  const result: AccessPolicy & { resource: AccessPolicyResource[] } = {
    resourceType: 'AccessPolicy',
    basedOn: access.map((a) => a.policy),
    resource,
  };
  if (compartment) {
    result.compartment = compartment;
  }
  applyAdminRules(result, membership, options);
  return result;
}

function substitute(
  entry: ProjectMembershipAccess,
  profile: Reference | undefined,
  readPolicy: (ref: Reference<AccessPolicy>) => AccessPolicy | undefined
): AccessPolicy {
  if (!entry.policy?.reference) {
    throw new Error('Access policy reference is required');
  }
  const original = readPolicy(entry.policy);
  if (!original) {
    // Same message as Medplum: it deliberately does not say which policy is missing.
    throw new OperationOutcomeError(
      badRequest(
        'Cannot authenticate: Invalid access policy configuration. Please contact your administrator to update your project membership.'
      )
    );
  }
  // Copy: Medplum pushes the built-ins onto the membership's own array, which would leak into later reads of it.
  const params: ProjectMembershipAccessParameter[] = [...(entry.parameter ?? [])];
  if (profile) {
    params.push({ name: 'profile', valueReference: profile });
    if (!params.some((p) => p.name === 'patient')) {
      params.push({ name: 'patient', valueReference: profile });
    }
  }
  let json = JSON.stringify(original);
  for (const param of params) {
    if (param.valueString) {
      json = json.replaceAll(`%${param.name}`, param.valueString);
    } else if (param.valueReference) {
      json = json.replaceAll(`%${param.name}.id`, resolveId(param.valueReference) ?? '');
      json = json.replaceAll(`%${param.name}`, param.valueReference.reference ?? '');
    }
  }
  return JSON.parse(json) as AccessPolicy;
}

function applyAdminRules(
  policy: AccessPolicy & { resource: AccessPolicyResource[] },
  membership: ProjectMembership,
  options: BuildAccessPolicyOptions | undefined
): void {
  if (options?.superAdmin) {
    for (const resourceType of projectAdminResourceTypes) {
      if (!policy.resource.some((r) => r.resourceType === resourceType)) {
        policy.resource.push({ resourceType });
      }
    }
    return;
  }

  policy.resource = policy.resource.filter((r) => !projectAdminResourceTypes.includes(r.resourceType));
  if (!membership.admin) {
    return;
  }

  const projectId = resolveId(membership.project) ?? '';
  const projectFields = {
    readonlyFields: ['features', 'link', 'systemSetting'],
    hiddenFields: ['superAdmin', 'systemSecret', 'strictMode'],
  };
  policy.resource.push(
    { resourceType: 'Project', ...projectFields, interaction: ['read', 'vread', 'history', 'search'] },
    {
      resourceType: 'Project',
      criteria: `Project?_id=${projectId}`,
      ...projectFields,
      interaction: ['read', 'vread', 'update', 'history', 'create', 'search'],
    },
    {
      resourceType: 'ProjectMembership',
      criteria: `ProjectMembership?_project=${projectId}`,
      readonlyFields: ['project', 'user'],
    },
    {
      resourceType: 'UserSecurityRequest',
      criteria: `UserSecurityRequest?_project=${projectId}`,
      readonly: true,
    },
    {
      resourceType: 'User',
      criteria: `User?_project=${projectId}`,
      hiddenFields: ['passwordHash', 'mfaSecret'],
      readonlyFields: ['email', 'emailVerified', 'mfaEnrolled', 'project'],
    },
    // Project admins manage their project's AccessPolicies (the Medplum console's Access Policies page).
    { resourceType: 'AccessPolicy', criteria: `AccessPolicy?_project=${projectId}` },
    { resourceType: 'Package', readonly: true },
    { resourceType: 'PackageRelease', readonly: true },
    { resourceType: 'PackageInstallation', readonly: true }
  );
}
