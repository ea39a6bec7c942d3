import { z } from 'zod';
import type { LaunchContext } from './smart.ts';

const KEY = 'baseline.smart.launchContext';

const StoredSchema = z.object({
  patient: z.string().optional(),
  encounter: z.string().optional(),
  needPatientBanner: z.boolean(),
});

/**
 * Keeps the EHR launch context for this tab (MedplumClient does not store it).
 * @param context - the context from the token response.
 */
export function saveLaunchContext(context: LaunchContext): void {
  sessionStorage.setItem(KEY, JSON.stringify(context));
}

/**
 * The EHR launch context of this tab, if it was opened by a SMART launch.
 * @returns The context, or undefined when there was no launch (or the stored value is unreadable).
 */
export function readLaunchContext(): LaunchContext | undefined {
  const raw = sessionStorage.getItem(KEY);
  if (raw === null) {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // Unreadable context is treated as no launch context; the page still works without it.
    return undefined;
  }
  const parsed = StoredSchema.safeParse(json);
  if (!parsed.success) {
    return undefined;
  }
  return {
    patient: parsed.data.patient,
    encounter: parsed.data.encounter,
    needPatientBanner: parsed.data.needPatientBanner,
  };
}

/** Forgets this tab's EHR launch context (a standalone launch, or the clinician left the launched patient). */
export function clearLaunchContext(): void {
  sessionStorage.removeItem(KEY);
}
