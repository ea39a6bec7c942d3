/**
 * The Oura sandbox's document store: each person's generated history (data.ts) with the edits real Oura makes on
 * top of it, and the webhook events those edits cause.
 *
 * Which days exist, relative to the current day E (the morning the person last synced their ring):
 * - sleep periods, daily_sleep, daily_readiness and daily_spo2 up to E (last night is analysed on waking);
 * - daily_activity, daily_stress and workouts up to E−1 (an activity day runs 04:00 → 04:00 and closes later);
 * - heart rate up to the end of last night.
 * `addDay()` moves E on (creates), `reanalyse()` bumps a sleep period (update, as after a bedtime edit), and
 * `deleteDocument()` deletes (a sleep period stays listed with `type: "deleted"`, as Oura keeps it; other documents
 * disappear).
 */
import { dateOfDay, dayNumberOf } from '../whoop/data.ts';
import type { HeartRateRow, OuraDocument, OuraDocumentType, OuraGenerator, OuraSleep } from './data.ts';
import { localIso, utcIso } from './data.ts';

export type WebhookEventType = 'create' | 'update' | 'delete';

/** What an edit tells the webhook sender (Oura's delivery body, before it is serialised). */
export interface RecordEvent {
  userId: string;
  dataType: OuraDocumentType;
  eventType: WebhookEventType;
  objectId: string;
  /** Epoch ms. */
  eventTime: number;
}

export class StoreError extends Error {}

const SLEEP_SIDE: readonly OuraDocumentType[] = ['sleep', 'daily_sleep', 'daily_readiness', 'daily_spo2'];

export interface StoreOptions {
  people: OuraGenerator[];
  endDate: string;
  days: number;
}

interface Edit {
  version: number;
  at: number;
  deleted: boolean;
  /** Seconds added to a sleep period's bedtime_end by bedtime edits. */
  extendSeconds: number;
}

function documentsOfDay(generator: OuraGenerator, day: number, type: OuraDocumentType): OuraDocument[] {
  const generated = generator.day(day);
  switch (type) {
    case 'sleep':
      return generated.sleeps;
    case 'daily_sleep':
      return [generated.dailySleep];
    case 'daily_readiness':
      return [generated.dailyReadiness];
    case 'daily_activity':
      return [generated.dailyActivity];
    case 'daily_spo2':
      return [generated.dailySpo2];
    case 'daily_stress':
      return [generated.dailyStress];
    case 'workout':
      return generated.workouts;
  }
}

export class OuraStore {
  private readonly people = new Map<string, OuraGenerator>();
  private readonly edits = new Map<string, Edit>();
  readonly firstDay: number;
  private endDay: number;

  constructor(options: StoreOptions) {
    for (const generator of options.people) {
      this.people.set(generator.userId, generator);
    }
    this.endDay = dayNumberOf(options.endDate);
    this.firstDay = this.endDay - options.days + 1;
  }

  get currentDay(): number {
    return this.endDay;
  }

  generator(userId: string): OuraGenerator {
    const generator = this.people.get(userId);
    if (!generator) {
      throw new StoreError(`No such user ${userId}`);
    }
    return generator;
  }

  /** The last day of `type` that exists now. */
  lastDay(type: OuraDocumentType): number {
    return SLEEP_SIDE.includes(type) ? this.endDay : this.endDay - 1;
  }

  private editKey(userId: string, type: OuraDocumentType, id: string): string {
    return `${userId}/${type}/${id}`;
  }

  private view(userId: string, type: OuraDocumentType, document: OuraDocument): OuraDocument | undefined {
    const edit = this.edits.get(this.editKey(userId, type, document.id));
    if (!edit) {
      return document;
    }
    if (type !== 'sleep') {
      return edit.deleted ? undefined : { ...document, meta: { updated_at: utcIso(edit.at), version: edit.version } };
    }
    const sleep = document as OuraSleep;
    const offsetMinutes = offsetOf(sleep.bedtime_end);
    const endMs = Date.parse(sleep.bedtime_end) + edit.extendSeconds * 1000;
    return {
      ...sleep,
      meta: { updated_at: utcIso(edit.at), version: edit.version },
      bedtime_end: localIso(endMs, offsetMinutes),
      time_in_bed: sleep.time_in_bed + edit.extendSeconds,
      awake_time: (sleep.awake_time ?? 0) + edit.extendSeconds,
      sleep_analysis_reason: 'bedtime_edit',
      ...(edit.deleted ? { type: 'deleted' as const } : {}),
    };
  }

  /** Every current document of a type, oldest first (the order Oura lists them in). */
  list(userId: string, type: OuraDocumentType): OuraDocument[] {
    const generator = this.generator(userId);
    const result: OuraDocument[] = [];
    for (let day = this.firstDay; day <= this.lastDay(type); day++) {
      for (const document of documentsOfDay(generator, day, type)) {
        const shown = this.view(userId, type, document);
        if (shown) {
          result.push(shown);
        }
      }
    }
    return result;
  }

  /** One document by id, or undefined (unknown, another user's, or deleted). */
  get(userId: string, type: OuraDocumentType, id: string): OuraDocument | undefined {
    return this.list(userId, type).find((document) => document.id === id);
  }

  /** The heart-rate rows in [startMs, endMs), up to the end of the person's last night. */
  heartRate(userId: string, startMs: number, endMs: number): HeartRateRow[] {
    const generator = this.generator(userId);
    const horizon = generator.mainNight(this.endDay).endMs;
    const firstMs = generator.mainNight(this.firstDay).startMs;
    const from = Math.max(startMs, firstMs);
    const to = Math.min(endMs, horizon);
    const rows: HeartRateRow[] = [];
    if (from >= to) {
      return rows;
    }
    for (let day = Math.floor(from / 86_400_000) - 1; day <= Math.floor(to / 86_400_000) + 1; day++) {
      for (const row of generator.heartRateDay(day)) {
        if (row.timestamp_unix >= from && row.timestamp_unix < to) {
          rows.push(row);
        }
      }
    }
    return rows;
  }

  private edit(userId: string, type: OuraDocumentType, id: string, at: number): Edit {
    if (!this.get(userId, type, id)) {
      throw new StoreError(`No ${type} document ${id} for user ${userId}`);
    }
    const key = this.editKey(userId, type, id);
    const edit = this.edits.get(key) ?? { version: 1, at, deleted: false, extendSeconds: 0 };
    edit.version += 1;
    edit.at = at;
    this.edits.set(key, edit);
    return edit;
  }

  /** The sleep period is analysed again after a bedtime edit: bedtime_end moves 5 minutes, the version goes up. */
  reanalyse(userId: string, id: string, at: number): RecordEvent[] {
    if (this.edits.get(this.editKey(userId, 'sleep', id))?.deleted === true) {
      throw new StoreError(`Sleep ${id} is deleted`);
    }
    const edit = this.edit(userId, 'sleep', id, at);
    edit.extendSeconds += 300;
    return [{ userId, dataType: 'sleep', eventType: 'update', objectId: id, eventTime: at }];
  }

  deleteDocument(userId: string, type: OuraDocumentType, id: string, at: number): RecordEvent[] {
    this.edit(userId, type, id, at).deleted = true;
    return [{ userId, dataType: type, eventType: 'delete', objectId: id, eventTime: at }];
  }

  /** The next morning: last night's documents and yesterday's activity appear, for every person. */
  addDay(at: number): RecordEvent[] {
    this.endDay += 1;
    const events: RecordEvent[] = [];
    for (const [userId, generator] of this.people) {
      for (const type of [
        'sleep',
        'daily_sleep',
        'daily_readiness',
        'daily_spo2',
        'daily_activity',
        'daily_stress',
        'workout',
      ] as const) {
        for (const document of documentsOfDay(generator, this.lastDay(type), type)) {
          events.push({ userId, dataType: type, eventType: 'create', objectId: document.id, eventTime: at });
        }
      }
    }
    return events;
  }

  currentDate(): string {
    return dateOfDay(this.endDay);
  }
}

/** The offset in minutes of a LocalizedDateTime such as `2024-01-15T07:12:30+01:00`. */
function offsetOf(localized: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(localized);
  if (!match) {
    return 0;
  }
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}
