/**
 * Points a project at provider sandboxes: merges the provider secrets into the Project's secrets through Medplum's
 * admin API (`POST admin/projects/:id/secrets` replaces the whole array, so existing secrets are read and kept).
 * Used by `npm start` and the tests; against a real Medplum an admin sets the same names in the console.
 */
import type { MedplumClient } from '@medplum/core';
import type { ProjectSetting } from '@medplum/fhirtypes';

/**
 * @param admin - A project-admin client.
 * @param projectId - The project.
 * @param values - Secret name → value; existing secrets with these names are replaced.
 * @param options - `onlyMissing` leaves secrets that already have a value alone (a dev stack keeps what an admin set).
 * @returns The names written.
 */
export async function mergeProjectSecrets(
  admin: MedplumClient,
  projectId: string,
  values: Record<string, string>,
  options: { onlyMissing?: boolean } = {}
): Promise<string[]> {
  const project = await admin.readResource('Project', projectId);
  const existing = project.secret ?? [];
  const written: string[] = [];
  const merged: ProjectSetting[] = existing.filter((s) => {
    const replace = s.name in values && !(options.onlyMissing && s.valueString);
    return !replace;
  });
  for (const [name, valueString] of Object.entries(values)) {
    if (!merged.some((s) => s.name === name)) {
      merged.push({ name, valueString });
      written.push(name);
    }
  }
  if (written.length > 0) {
    await admin.post(`admin/projects/${projectId}/secrets`, merged);
  }
  return written;
}
