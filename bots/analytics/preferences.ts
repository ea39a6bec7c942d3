/**
 * Bot `preferences` (owner-invocable): the owner's alert rules and source ladders (issue 8 §1, §6).
 *
 * Owners cannot read or write Basic (it is also the token store's type, see data/core/connection.ts), so this bot
 * reads and writes, for the caller's own Patient only:
 * - alert rules: one Basic per rule the owner changed (alerts.ts alertRuleResource); DEFAULT_RULES apply to every id
 *   they did not store; reset deletes the owner's version;
 * - source ladders: one Basic per owner (source-priority.ts); reset drops one metric's ladder.
 * Writes are conditional updates on the identifier (one resource per owner and rule however often it is saved), and
 * a save equal to what is stored writes nothing. A change queues a recompute so the series, bands and alerts follow.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Basic, Patient, Reference } from '@medplum/fhirtypes';
import { getMetric, sourceLadder } from '../shared/catalogue.ts';
import { updateIfUnchanged } from '../shared/fhir-write.ts';
import { patientIdOf, requesterPatient } from '../shared/requester.ts';
import {
  ALERT_RULE_CODE_TOKEN,
  ALERT_RULE_IDENTIFIER_SYSTEM,
  alertRuleResource,
  DEFAULT_RULES,
  effectiveRules,
  parseAlertRule,
} from './alerts.ts';
import type { AlertRule } from './alerts.ts';
import { LADDER_METRICS, PreferencesInputSchema } from './owner-api.ts';
import type { PreferencesResult } from './owner-api.ts';
import { queueAnalytics } from './queue.ts';
import {
  parseSourcePriority,
  SOURCE_PRIORITY_CODE_TOKEN,
  SOURCE_PRIORITY_IDENTIFIER_SYSTEM,
  sourcePriorityResource,
} from './source-priority.ts';
import type { Ladders } from './source-priority.ts';

/** Rules an owner may add beyond the defaults. */
export const MAX_OWN_RULES = 20;

interface Stored {
  readonly rules: Map<string, { rule: AlertRule; basic: WithId<Basic> }>;
  readonly ladders: Ladders;
  readonly ladderBasic?: WithId<Basic>;
}

async function readStored(medplum: MedplumClient, owner: Reference<Patient> & { reference: string }): Promise<Stored> {
  const basics = await medplum.searchResources(
    'Basic',
    { subject: owner.reference, code: [ALERT_RULE_CODE_TOKEN, SOURCE_PRIORITY_CODE_TOKEN].join(','), _count: '100' },
    { cache: 'no-cache' }
  );
  const rules = new Map<string, { rule: AlertRule; basic: WithId<Basic> }>();
  let ladders: Ladders = {};
  let ladderBasic: WithId<Basic> | undefined;
  for (const basic of basics) {
    if (basic.subject?.reference !== owner.reference) {
      continue;
    }
    if (basic.identifier?.some((i) => i.system === SOURCE_PRIORITY_IDENTIFIER_SYSTEM)) {
      const parsed = parseSourcePriority(basic);
      ladderBasic = basic;
      // An unreadable record is overwritten by the next save; until then the catalogue defaults apply.
      ladders = parsed.ok ? parsed.ladders : {};
      continue;
    }
    const parsed = parseAlertRule(basic);
    if (parsed.ok) {
      rules.set(parsed.rule.id, { rule: parsed.rule, basic });
    }
  }
  return { rules, ladders, ...(ladderBasic ? { ladderBasic } : {}) };
}

function result(stored: Stored, changed: boolean): PreferencesResult {
  const defaults = new Set(DEFAULT_RULES.map((r) => r.id));
  return {
    rules: effectiveRules([...stored.rules.values()].map((r) => r.rule)).map((rule) => ({
      rule,
      custom: stored.rules.has(rule.id),
      isDefault: defaults.has(rule.id),
    })),
    sourcePriority: LADDER_METRICS.map((key) => {
      const metric = getMetric(key);
      const override = stored.ladders[key];
      return {
        metric: key,
        label: metric.label,
        defaults: [...sourceLadder(metric)],
        ...(override ? { override: [...override] } : {}),
      };
    }),
    ...(changed ? { recompute: 'queued' as const } : {}),
  };
}

/** JSON with sorted keys: a rule parsed from the app and one written in code are equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

async function writeLadders(
  medplum: MedplumClient,
  owner: Reference<Patient> & { reference: string },
  stored: Stored,
  ladders: Ladders
): Promise<void> {
  if (Object.keys(ladders).length === 0) {
    // Nothing overridden any more: no record, rather than one that says "no overrides".
    if (stored.ladderBasic) {
      await medplum.deleteResource('Basic', stored.ladderBasic.id);
    }
    return;
  }
  const next = sourcePriorityResource(ladders, owner);
  if (stored.ladderBasic) {
    // Versioned: two saves of different metrics at once (two tabs) must not silently drop one.
    const written = await updateIfUnchanged(medplum, { ...next, id: stored.ladderBasic.id }, stored.ladderBasic);
    if (!written) {
      throw new Error('Your settings changed meanwhile; reload and try again');
    }
    return;
  }
  const query = `identifier=${encodeURIComponent(`${SOURCE_PRIORITY_IDENTIFIER_SYSTEM}|${patientIdOf(owner)}`)}`;
  await medplum.createResourceIfNoneExist(next, query);
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<PreferencesResult> {
  const owner = requesterPatient(event);
  const parsed = PreferencesInputSchema.safeParse(event.input);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    throw new Error(`Invalid preferences: ${why}`);
  }
  const input = parsed.data;
  const stored = await readStored(medplum, owner);
  let changed = false;
  switch (input.action) {
    case 'get':
      break;
    case 'set-rule': {
      const mine = stored.rules.get(input.rule.id);
      const fallback = DEFAULT_RULES.find((r) => r.id === input.rule.id);
      if (fallback && sameJson(fallback, input.rule)) {
        // Back to the default: the owner's copy goes, so the rule follows the default again if it ever changes.
        if (mine) {
          await medplum.deleteResource('Basic', mine.basic.id);
          stored.rules.delete(input.rule.id);
          changed = true;
        }
      } else if (!mine || !sameJson(mine.rule, input.rule)) {
        const own = [...stored.rules.keys()].filter((id) => !DEFAULT_RULES.some((r) => r.id === id));
        if (!mine && !fallback && own.length >= MAX_OWN_RULES) {
          // Every rule is evaluated on every recompute, on a quota all owners share.
          throw new Error(`At most ${MAX_OWN_RULES} alert rules of your own`);
        }
        const basic = alertRuleResource(input.rule, owner);
        const id = basic.identifier?.[0];
        const written = await medplum.upsertResource(
          basic,
          `identifier=${encodeURIComponent(`${ALERT_RULE_IDENTIFIER_SYSTEM}|${id?.value ?? ''}`)}`
        );
        stored.rules.set(input.rule.id, { rule: input.rule, basic: written });
        changed = true;
      }
      break;
    }
    case 'reset-rule': {
      const mine = stored.rules.get(input.id);
      if (mine) {
        await medplum.deleteResource('Basic', mine.basic.id);
        stored.rules.delete(input.id);
        changed = true;
      } else if (!DEFAULT_RULES.some((r) => r.id === input.id)) {
        throw new Error(`No alert rule ${input.id}`);
      }
      break;
    }
    case 'set-source-priority': {
      if (!sameJson(stored.ladders[input.metric], input.sources)) {
        const next = { ...stored.ladders, [input.metric]: input.sources };
        await writeLadders(medplum, owner, stored, next);
        return finish(medplum, owner, { ...stored, ladders: next }, true);
      }
      break;
    }
    case 'reset-source-priority': {
      if (stored.ladders[input.metric] !== undefined) {
        const { [input.metric]: _dropped, ...next } = stored.ladders;
        await writeLadders(medplum, owner, stored, next);
        return finish(medplum, owner, { ...stored, ladders: next }, true);
      }
      break;
    }
  }
  return finish(medplum, owner, stored, changed);
}

async function finish(
  medplum: MedplumClient,
  owner: Reference<Patient> & { reference: string },
  stored: Stored,
  changed: boolean
): Promise<PreferencesResult> {
  if (changed) {
    await queueAnalytics(medplum, owner, 'preferences');
  }
  return result(stored, changed);
}
