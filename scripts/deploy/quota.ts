/**
 * How much FHIR quota a Baseline project needs for N owners, and whether the target project has it. Pure, so the
 * README's sizing table is this module's output.
 *
 * The model (issue 6, after the ingestion rework): all ingestion runs as the `sync` bot's membership, so one
 * membership's per-minute quota (`userFhirQuota`) paces every owner's import; the project total (`totalFhirQuota`)
 * bounds all memberships together. A year's WHOOP backfill of one owner needs about 2,500 writes (250,000 points);
 * ongoing sync about 30 writes per owner per day. The sizing goal: onboarding every expected owner at once (a
 * cohort moving in) imports all their history within an hour, and day-to-day sync uses a small share of the quota
 * so webhooks stay fresh while a backfill runs.
 */

/** Medplum's points per interaction (packages/server/src/fhir/fhirquota.ts). */
export const QUOTA_POINTS = { read: 1, search: 20, history: 10, write: 100 } as const;
/** Medplum's `defaultFhirQuota`: points per minute per membership. */
export const DEFAULT_USER_FHIR_QUOTA = 50_000;
/** Medplum's project total when `totalFhirQuota` is not set: 10 × the user quota. */
export const DEFAULT_TOTAL_FACTOR = 10;

export const BACKFILL_WRITES_PER_OWNER = 2_500;
export const SYNC_WRITES_PER_OWNER_PER_DAY = 30;
/** Onboarding all expected owners at once should finish within this. */
export const ONBOARDING_TARGET_MINUTES = 60;
/** Day-to-day sync should take at most this share of the sync bot's quota. */
export const MAX_SYNC_SHARE = 0.1;
export const DEFAULT_EXPECTED_OWNERS = 10;

export interface ProjectQuota {
  /** Points per minute per membership. */
  readonly userFhirQuota: number;
  /** Points per minute for the whole project. */
  readonly totalFhirQuota: number;
  /** Which values came from Project.systemSetting (the rest are Medplum's defaults, assumed). */
  readonly source: { readonly user: 'project' | 'default'; readonly total: 'project' | 'default' };
  /** False when a super admin set `enableFhirQuota: false`: Medplum then counts but never refuses. */
  readonly enforced: boolean;
}

export interface QuotaSizing {
  readonly owners: number;
  /** What the sync bot can spend per minute: its own quota, capped by the project total. */
  readonly syncPointsPerMinute: number;
  readonly backfillPointsPerOwner: number;
  /** One owner's year of history, alone. */
  readonly backfillMinutesPerOwner: number;
  /** Every expected owner's history, all connecting at once. */
  readonly onboardingMinutes: number;
  /** Day-to-day sync for all owners, per minute on average. */
  readonly syncPointsPerMinuteNeeded: number;
  /** Its share of syncPointsPerMinute. */
  readonly syncShare: number;
  /** The smallest userFhirQuota (rounded up to 10,000) that meets both goals; never below Medplum's default. */
  readonly recommendedUserFhirQuota: number;
  /** The totalFhirQuota to go with it (Medplum's 10× rule). */
  readonly recommendedTotalFhirQuota: number;
  /** Empty when the quota is enough. */
  readonly warnings: readonly string[];
}

const SYSTEM_SETTING = /^(userFhirQuota|totalFhirQuota)$/;

/**
 * The project's quota from `Project.systemSetting` where the admin can read it, else Medplum's defaults.
 * @param systemSetting - Project.systemSetting (absent when unset or hidden).
 * @returns The quota and where each number came from.
 */
export function projectQuota(
  systemSetting:
    readonly { name?: string; valueInteger?: number; valueDecimal?: number; valueBoolean?: boolean }[] | undefined
): ProjectQuota {
  const read = (name: string): number | undefined => {
    const setting = (systemSetting ?? []).find((s) => s.name === name && SYSTEM_SETTING.test(name));
    const value = setting?.valueInteger ?? setting?.valueDecimal;
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
  };
  const user = read('userFhirQuota');
  const total = read('totalFhirQuota');
  const userFhirQuota = user ?? DEFAULT_USER_FHIR_QUOTA;
  return {
    userFhirQuota,
    totalFhirQuota: total ?? userFhirQuota * DEFAULT_TOTAL_FACTOR,
    source: { user: user === undefined ? 'default' : 'project', total: total === undefined ? 'default' : 'project' },
    enforced: (systemSetting ?? []).find((s) => s.name === 'enableFhirQuota')?.valueBoolean !== false,
  };
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

const fmt = (value: number): string => Math.round(value).toLocaleString('en-US');

/**
 * Sizes the quota for `owners` owners.
 * @param owners - Owners the operator expects (≥ 1).
 * @param quota - The project's quota.
 * @returns Times, the recommended settings and warnings.
 */
export function sizeQuota(owners: number, quota: ProjectQuota): QuotaSizing {
  const n = Math.max(1, Math.floor(owners));
  const syncPointsPerMinute = Math.min(quota.userFhirQuota, quota.totalFhirQuota);
  const backfillPointsPerOwner = BACKFILL_WRITES_PER_OWNER * QUOTA_POINTS.write;
  const syncPointsPerMinuteNeeded = (n * SYNC_WRITES_PER_OWNER_PER_DAY * QUOTA_POINTS.write) / (24 * 60);
  const onboardingPoints = n * backfillPointsPerOwner;

  const neededForOnboarding = onboardingPoints / ONBOARDING_TARGET_MINUTES;
  const neededForSync = syncPointsPerMinuteNeeded / MAX_SYNC_SHARE;
  const recommendedUserFhirQuota = Math.max(
    DEFAULT_USER_FHIR_QUOTA,
    roundUp(Math.max(neededForOnboarding, neededForSync), 10_000)
  );

  const sizing = {
    owners: n,
    syncPointsPerMinute,
    backfillPointsPerOwner,
    backfillMinutesPerOwner: backfillPointsPerOwner / syncPointsPerMinute,
    onboardingMinutes: onboardingPoints / syncPointsPerMinute,
    syncPointsPerMinuteNeeded,
    syncShare: syncPointsPerMinuteNeeded / syncPointsPerMinute,
    recommendedUserFhirQuota,
    recommendedTotalFhirQuota: recommendedUserFhirQuota * DEFAULT_TOTAL_FACTOR,
  };

  const warnings: string[] = [];
  if (sizing.onboardingMinutes > ONBOARDING_TARGET_MINUTES) {
    warnings.push(
      `importing a year of history for all ${n} owners at once takes ${fmt(Math.ceil(sizing.onboardingMinutes))} min at ${fmt(syncPointsPerMinute)} points/min (target ${ONBOARDING_TARGET_MINUTES} min)`
    );
  }
  if (sizing.syncShare > MAX_SYNC_SHARE) {
    warnings.push(
      `day-to-day sync for ${n} owners needs ${fmt(syncPointsPerMinuteNeeded)} points/min, ${Math.round(sizing.syncShare * 100)} % of ${fmt(syncPointsPerMinute)} (keep it under ${Math.round(MAX_SYNC_SHARE * 100)} %)`
    );
  }
  if (quota.totalFhirQuota < quota.userFhirQuota) {
    warnings.push(
      `totalFhirQuota ${fmt(quota.totalFhirQuota)} is below userFhirQuota ${fmt(quota.userFhirQuota)}, so the project total caps the sync bot`
    );
  }
  return { ...sizing, warnings };
}

/**
 * What deploy prints about the quota: one line stating the quota and its source, then a warning with the settings
 * a super admin should make when it is too low.
 * @param owners - Expected owners.
 * @param quota - The project's quota.
 * @returns Lines (the first always present).
 */
export function quotaReport(owners: number, quota: ProjectQuota): string[] {
  if (!quota.enforced) {
    return ['FHIR quota: not enforced in this project (Project.systemSetting enableFhirQuota is false).'];
  }
  const sizing = sizeQuota(owners, quota);
  const assumed =
    quota.source.user === 'default' || quota.source.total === 'default'
      ? ` (${[
          quota.source.user === 'default'
            ? `userFhirQuota not readable or not set: assuming Medplum's default ${fmt(DEFAULT_USER_FHIR_QUOTA)}`
            : '',
          quota.source.total === 'default' ? `totalFhirQuota assumed ${DEFAULT_TOTAL_FACTOR} × userFhirQuota` : '',
        ]
          .filter(Boolean)
          .join('; ')})`
      : '';
  const lines = [
    `FHIR quota: ${fmt(quota.userFhirQuota)} points/min per membership, ${fmt(quota.totalFhirQuota)} per project${assumed}; one owner's year of WHOOP history takes ~${fmt(Math.ceil(sizing.backfillMinutesPerOwner))} min, ${sizing.owners} owners at once ~${fmt(Math.ceil(sizing.onboardingMinutes))} min.`,
  ];
  if (sizing.warnings.length > 0) {
    lines.push(
      `Warning: the FHIR quota is low for ${sizing.owners} owners: ${sizing.warnings.join('; ')}. A super admin should set Project.systemSetting userFhirQuota = ${sizing.recommendedUserFhirQuota} and totalFhirQuota = ${sizing.recommendedTotalFhirQuota} (see README, "FHIR quota").`
    );
  }
  return lines;
}
