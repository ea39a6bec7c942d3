/**
 * What the patient app and the two owner-invocable insight bots say to each other (issue 8 §5, §6, §8): the zod
 * schemas of their inputs and results, shared by the bots (which validate every input) and the app (which validates
 * every result). Owners never write Observations or Basics themselves: the `annotate` bot writes annotations and the
 * `preferences` bot writes alert rules and source ladders, each for the caller's own Patient only, and each queues a
 * recompute so bands, trends, narratives and alerts follow the change.
 *
 * Pure: no I/O and no Node built-ins.
 */
import { z } from 'zod';
import { METRICS, PROVIDER_IDS } from '../shared/catalogue.ts';
import { AlertRuleSchema } from './alerts.ts';
import { ANNOTATION_KIND_CODES } from './annotation-kinds.ts';

// ---------------------------------------------------------------------------------------------------------------
// annotate

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a calendar day, YYYY-MM-DD');

/** The fields of an annotation as the app edits them (AnnotationInputSchema checks them fully in the bot). */
const AnnotationFields = {
  kind: z.enum(ANNOTATION_KIND_CODES),
  start: Day,
  end: Day.optional(),
  note: z.string().max(500).optional(),
};

export const AnnotateInputSchema = z.discriminatedUnion('action', [
  /** `key`: minted once per annotation by the app, so a doubled submit writes one resource. */
  z.strictObject({ action: z.literal('create'), key: z.string(), ...AnnotationFields }),
  z.strictObject({ action: z.literal('update'), id: z.string().min(1), ...AnnotationFields }),
  z.strictObject({ action: z.literal('delete'), id: z.string().min(1) }),
]);
export type AnnotateInput = z.input<typeof AnnotateInputSchema>;

export const AnnotationViewSchema = z.strictObject({
  id: z.string(),
  kind: z.enum(ANNOTATION_KIND_CODES),
  start: z.string(),
  end: z.string(),
  note: z.string().optional(),
  status: z.string(),
});
export type AnnotationView = z.infer<typeof AnnotationViewSchema>;

export const AnnotateResultSchema = z.strictObject({
  annotation: AnnotationViewSchema,
  /** A recompute of the owner's insights was queued (or an already waiting one will see the change). */
  recompute: z.literal('queued'),
});
export type AnnotateResult = z.infer<typeof AnnotateResultSchema>;

// ---------------------------------------------------------------------------------------------------------------
// preferences: alert rules and source ladders

export const ProviderSchema = z.enum(PROVIDER_IDS);

/** Metrics whose daily series can come from more than one provider: the ones a source ladder means anything for. */
export const LADDER_METRICS: readonly string[] = METRICS.filter((m) => m.providers.length > 1).map((m) => m.key);

export const PreferencesInputSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('get') }),
  /** Stores the owner's version of a rule (a default's id replaces that default). */
  z.strictObject({ action: z.literal('set-rule'), rule: AlertRuleSchema }),
  /** Drops the owner's version: a default comes back, an added rule is gone. */
  z.strictObject({ action: z.literal('reset-rule'), id: z.string().min(1) }),
  z.strictObject({
    action: z.literal('set-source-priority'),
    metric: z.string().refine((k) => LADDER_METRICS.includes(k), { message: 'not a metric with several sources' }),
    sources: z
      .array(ProviderSchema)
      .min(1)
      .refine((s) => new Set(s).size === s.length, { message: 'each source once' }),
  }),
  z.strictObject({ action: z.literal('reset-source-priority'), metric: z.string().min(1) }),
]);
export type PreferencesInput = z.input<typeof PreferencesInputSchema>;

export const PreferencesResultSchema = z.strictObject({
  rules: z.array(
    z.strictObject({
      rule: AlertRuleSchema,
      /** True when this is the owner's own version, false for a default in force. */
      custom: z.boolean(),
      /** The default with this id, when there is one (what reset brings back). */
      isDefault: z.boolean(),
    })
  ),
  sourcePriority: z.array(
    z.strictObject({
      metric: z.string(),
      label: z.string(),
      /** The catalogue's ladder, best first. */
      defaults: z.array(ProviderSchema),
      /** The owner's ladder, when they set one. */
      override: z.array(ProviderSchema).optional(),
    })
  ),
  /** Set after a change: a recompute was queued so derived values follow it. */
  recompute: z.literal('queued').optional(),
});
export type PreferencesResult = z.infer<typeof PreferencesResultSchema>;
