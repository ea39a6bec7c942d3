/**
 * The sandbox's mutable record store: the generated history of each person, with WHOOP's score lifecycle on top.
 *
 * Lifecycle rules (relative to the current day E, the day whose cycle is in progress):
 * - day E: cycle (no `end`), main sleep and recovery are PENDING_SCORE; no workouts or naps yet (the day is young);
 * - day E−1: cycle, workouts and naps are PENDING_SCORE (strain is final only once the cycle ends);
 * - older records carry their final state: SCORED, or UNSCORABLE for the few the generator marks so.
 * `addDay()` advances E, `rescore()`/`scorePending()` flip PENDING_SCORE to the final state (bumping `updated_at`),
 * `deleteRecord()` removes a record (a sleep takes its recovery with it, as on WHOOP). Each mutation returns the
 * webhook events WHOOP would send (creates arrive as `*.updated`; cycles have no events).
 */
import { dayNumberOf, PersonGenerator } from './data.ts';
import type {
  PersonTraits,
  RecordType,
  WhoopCycle,
  WhoopRecord,
  WhoopRecovery,
  WhoopSleep,
  WhoopWorkout,
} from './data.ts';

export type WebhookEventType =
  'sleep.updated' | 'sleep.deleted' | 'recovery.updated' | 'recovery.deleted' | 'workout.updated' | 'workout.deleted';

/** What a mutation tells the webhook sender; `id` is the sleep UUID for recovery events (WHOOP v2). */
export interface RecordEvent {
  type: WebhookEventType;
  id: string;
  userId: number;
}

export interface Entry {
  type: RecordType;
  /** Sleep/workout UUID, cycle id as a string, recovery's sleep UUID. */
  id: string;
  userId: number;
  day: number;
  /** The sort and filter time: `start`, or for a recovery the start of its sleep. */
  startMs: number;
  final: WhoopRecord;
  view: WhoopRecord;
  pending: boolean;
}

export interface ListQuery {
  startMs?: number;
  endMs: number;
  limit: number;
  after?: { startMs: number; id: string };
}

export interface ListResult {
  entries: Entry[];
  more: boolean;
}

export class StoreError extends Error {}

/** Rebuilds a record in the spec's key order with a new state; `score` only when SCORED. */
function withState<T extends WhoopRecord>(final: T, state: 'final' | 'pending', updatedAt: string, end?: string): T {
  const scoreState = state === 'pending' ? 'PENDING_SCORE' : final.score_state;
  const score = scoreState === 'SCORED' ? final.score : undefined;
  if ('nap' in final) {
    const sleep: WhoopSleep = {
      id: final.id,
      cycle_id: final.cycle_id,
      user_id: final.user_id,
      created_at: final.created_at,
      updated_at: updatedAt,
      start: final.start,
      end: final.end,
      timezone_offset: final.timezone_offset,
      nap: final.nap,
      score_state: scoreState,
    };
    if (score) {
      sleep.score = score as WhoopSleep['score'];
    }
    return sleep as T;
  }
  if ('sleep_id' in final) {
    const recovery: WhoopRecovery = {
      cycle_id: final.cycle_id,
      sleep_id: final.sleep_id,
      user_id: final.user_id,
      created_at: final.created_at,
      updated_at: updatedAt,
      score_state: scoreState,
    };
    if (score) {
      recovery.score = score as WhoopRecovery['score'];
    }
    return recovery as T;
  }
  if ('sport_name' in final) {
    const workout: WhoopWorkout = {
      id: final.id,
      user_id: final.user_id,
      created_at: final.created_at,
      updated_at: updatedAt,
      start: final.start,
      end: final.end,
      timezone_offset: final.timezone_offset,
      sport_name: final.sport_name,
      score_state: scoreState,
    };
    if (score) {
      workout.score = score as WhoopWorkout['score'];
    }
    return workout as T;
  }
  const cycle: WhoopCycle = {
    id: final.id,
    user_id: final.user_id,
    created_at: final.created_at,
    updated_at: updatedAt,
    start: final.start,
    ...(end === undefined ? {} : { end }),
    timezone_offset: final.timezone_offset,
    score_state: scoreState,
  };
  if (score) {
    cycle.score = score as WhoopCycle['score'];
  }
  return cycle as T;
}

function compareDesc(a: Entry, b: Entry): number {
  if (a.startMs !== b.startMs) {
    return b.startMs - a.startMs;
  }
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

interface PersonState {
  generator: PersonGenerator;
  entries: Map<RecordType, Map<string, Entry>>;
  sorted: Map<RecordType, Entry[]>;
}

export interface StoreOptions {
  people: PersonTraits[];
  endDate: string;
  days: number;
}

export class WhoopStore {
  private readonly people = new Map<number, PersonState>();
  private endDay: number;

  constructor(options: StoreOptions) {
    if (!Number.isInteger(options.days) || options.days < 2) {
      throw new Error('days must be an integer ≥ 2');
    }
    this.endDay = dayNumberOf(options.endDate);
    for (const person of options.people) {
      const state: PersonState = {
        generator: new PersonGenerator(person),
        entries: new Map([
          ['cycle', new Map()],
          ['sleep', new Map()],
          ['recovery', new Map()],
          ['workout', new Map()],
        ]),
        sorted: new Map(),
      };
      this.people.set(person.userId, state);
      for (let day = this.endDay - options.days + 1; day <= this.endDay; day++) {
        this.materialiseDay(state, day);
      }
    }
  }

  get currentDay(): number {
    return this.endDay;
  }

  userIds(): number[] {
    return [...this.people.keys()];
  }

  private person(userId: number): PersonState {
    const state = this.people.get(userId);
    if (!state) {
      throw new StoreError(`Unknown user ${userId}`);
    }
    return state;
  }

  private put(state: PersonState, entry: Entry): void {
    state.entries.get(entry.type)?.set(entry.id, entry);
    state.sorted.delete(entry.type);
  }

  private addEntry(state: PersonState, type: RecordType, day: number, final: WhoopRecord, pending: boolean): Entry {
    const id = 'sleep_id' in final ? final.sleep_id : String(final.id);
    const startMs = 'start' in final ? Date.parse(final.start) : this.sleepStartOf(state, final.sleep_id);
    const view = withState(
      final,
      pending ? 'pending' : 'final',
      pending ? final.created_at : final.updated_at,
      cycleEnd(final)
    );
    const entry: Entry = { type, id, userId: final.user_id, day, startMs, final, view, pending };
    this.put(state, entry);
    return entry;
  }

  private sleepStartOf(state: PersonState, sleepId: string): number {
    const sleep = state.entries.get('sleep')?.get(sleepId);
    if (!sleep) {
      throw new StoreError(`Sleep ${sleepId} not found`);
    }
    return sleep.startMs;
  }

  /** Adds the records that exist for `day` given the current day, in the state the rules give them. */
  private materialiseDay(state: PersonState, day: number): Entry[] {
    const generated = state.generator.day(day);
    const isCurrent = day === this.endDay;
    const added: Entry[] = [];
    const cycleFinal: WhoopCycle = isCurrent ? withoutEnd(generated.cycle) : generated.cycle;
    added.push(this.addEntry(state, 'cycle', day, cycleFinal, day >= this.endDay - 1));
    added.push(this.addEntry(state, 'sleep', day, generated.sleep, isCurrent));
    added.push(this.addEntry(state, 'recovery', day, generated.recovery, isCurrent));
    if (!isCurrent) {
      added.push(...this.materialiseDaytime(state, day));
    }
    return added;
  }

  private materialiseDaytime(state: PersonState, day: number): Entry[] {
    const pending = day >= this.endDay - 1;
    const added: Entry[] = [];
    for (const nap of state.generator.naps(day)) {
      added.push(this.addEntry(state, 'sleep', day, nap, pending));
    }
    for (const workout of state.generator.workouts(day)) {
      added.push(this.addEntry(state, 'workout', day, workout, pending));
    }
    return added;
  }

  private sortedEntries(state: PersonState, type: RecordType): Entry[] {
    let sorted = state.sorted.get(type);
    if (!sorted) {
      sorted = [...(state.entries.get(type)?.values() ?? [])].sort(compareDesc);
      state.sorted.set(type, sorted);
    }
    return sorted;
  }

  /** Records of a type, newest first, `startMs` ≤ start < `endMs`, after the keyset cursor if given. */
  list(userId: number, type: RecordType, query: ListQuery): ListResult {
    const sorted = this.sortedEntries(this.person(userId), type);
    const matching: Entry[] = [];
    for (const entry of sorted) {
      if (entry.startMs >= query.endMs) {
        continue;
      }
      if (query.startMs !== undefined && entry.startMs < query.startMs) {
        break;
      }
      if (query.after && compareDesc(entry, { startMs: query.after.startMs, id: query.after.id } as Entry) <= 0) {
        continue;
      }
      matching.push(entry);
      if (matching.length > query.limit) {
        break;
      }
    }
    return { entries: matching.slice(0, query.limit), more: matching.length > query.limit };
  }

  get(userId: number, type: RecordType, id: string): Entry | undefined {
    return this.people.get(userId)?.entries.get(type)?.get(id);
  }

  /** Finds a record by id across people (by-id routes answer 404 for another user's record). */
  find(type: RecordType, id: string): Entry | undefined {
    for (const state of this.people.values()) {
      const entry = state.entries.get(type)?.get(id);
      if (entry) {
        return entry;
      }
    }
    return undefined;
  }

  /** The recovery of a cycle (recoveries are keyed by sleep id). */
  recoveryOfCycle(userId: number, cycleId: number): Entry | undefined {
    for (const entry of this.person(userId).entries.get('recovery')?.values() ?? []) {
      if ((entry.view as WhoopRecovery).cycle_id === cycleId) {
        return entry;
      }
    }
    return undefined;
  }

  /** The main (non-nap) sleep of a cycle. */
  sleepOfCycle(userId: number, cycleId: number): Entry | undefined {
    for (const entry of this.person(userId).entries.get('sleep')?.values() ?? []) {
      const sleep = entry.view as WhoopSleep;
      if (sleep.cycle_id === cycleId && !sleep.nap) {
        return entry;
      }
    }
    return undefined;
  }

  private resolve(type: RecordType, id: string): { state: PersonState; entry: Entry } {
    for (const state of this.people.values()) {
      const entries = state.entries.get(type);
      let entry = entries?.get(id);
      if (!entry && type === 'recovery') {
        entry = [...(entries?.values() ?? [])].find(
          (candidate) => String((candidate.view as WhoopRecovery).cycle_id) === id
        );
      }
      if (entry) {
        return { state, entry };
      }
    }
    throw new StoreError(`No ${type} with id ${id}`);
  }

  private bump(entry: Entry, nowMs: number): string {
    const previous = Date.parse(entry.view.updated_at);
    return new Date(Math.max(nowMs, previous + 1000)).toISOString();
  }

  private settle(state: PersonState, entry: Entry, nowMs: number): void {
    const updatedAt = this.bump(entry, nowMs);
    const settled: Entry = {
      ...entry,
      pending: false,
      view: withState(entry.final, 'final', updatedAt, cycleEnd(entry.view)),
    };
    this.put(state, settled);
  }

  private eventsFor(entry: Entry): RecordEvent[] {
    switch (entry.type) {
      case 'sleep':
        return [{ type: 'sleep.updated', id: entry.id, userId: entry.userId }];
      case 'recovery':
        return [{ type: 'recovery.updated', id: entry.id, userId: entry.userId }];
      case 'workout':
        return [{ type: 'workout.updated', id: entry.id, userId: entry.userId }];
      case 'cycle':
        return [];
    }
  }

  /**
   * Re-scores one record: PENDING_SCORE → its final state; an already SCORED record gets a slightly revised score
   * (as when a member edits a sleep). A sleep re-score re-scores its recovery too, as on WHOOP.
   * @param type - Record type.
   * @param id - Sleep/workout UUID, cycle id, or for a recovery its sleep UUID or cycle id.
   * @param nowMs - The sandbox clock.
   */
  rescore(type: RecordType, id: string, nowMs: number): RecordEvent[] {
    const { state, entry } = this.resolve(type, id);
    if (!entry.pending && entry.final.score_state === 'UNSCORABLE') {
      throw new StoreError(`${type} ${id} is UNSCORABLE`);
    }
    const events: RecordEvent[] = [];
    if (entry.pending) {
      this.settle(state, entry, nowMs);
    } else {
      const revised = revise(entry.final);
      this.put(state, {
        ...entry,
        final: revised,
        view: withState(revised, 'final', this.bump(entry, nowMs), cycleEnd(entry.view)),
      });
    }
    events.push(...this.eventsFor(entry));
    if (type === 'sleep') {
      const recovery = state.entries.get('recovery')?.get(entry.id);
      if (recovery && (recovery.pending || recovery.final.score_state === 'SCORED')) {
        events.push(...this.rescore('recovery', recovery.id, nowMs));
      }
    }
    return events;
  }

  /** Settles every PENDING_SCORE record of every person. */
  scorePending(nowMs: number): RecordEvent[] {
    const events: RecordEvent[] = [];
    for (const state of this.people.values()) {
      for (const entries of state.entries.values()) {
        for (const entry of [...entries.values()]) {
          if (entry.pending) {
            this.settle(state, entry, nowMs);
            events.push(...this.eventsFor(entry));
          }
        }
      }
    }
    return events;
  }

  /**
   * Deletes a record. Deleting a sleep deletes its recovery ("A recovery is deleted when its associated sleep is
   * deleted"); cycles cannot be deleted (WHOOP has no cycle events).
   */
  deleteRecord(type: RecordType, id: string): RecordEvent[] {
    if (type === 'cycle') {
      throw new StoreError('Cycles cannot be deleted');
    }
    const { state, entry } = this.resolve(type, id);
    state.entries.get(type)?.delete(entry.id);
    state.sorted.delete(type);
    const events: RecordEvent[] = [{ type: `${type}.deleted`, id: entry.id, userId: entry.userId }];
    if (type === 'sleep' && state.entries.get('recovery')?.delete(entry.id)) {
      state.sorted.delete('recovery');
      events.push({ type: 'recovery.deleted', id: entry.id, userId: entry.userId });
    }
    return events;
  }

  /**
   * Moves every person on by one day: the running cycle ends, a new one starts (with last night's sleep and
   * recovery), yesterday's workouts and naps appear, and records that left the pending window settle.
   */
  addDay(nowMs: number): RecordEvent[] {
    const previousEnd = this.endDay;
    this.endDay += 1;
    const events: RecordEvent[] = [];
    for (const state of this.people.values()) {
      const running = this.get(state.generator.person.userId, 'cycle', String(state.generator.cycleId(previousEnd)));
      if (running) {
        const generated = state.generator.day(previousEnd).cycle;
        const final: WhoopCycle =
          running.final.score_state === 'UNSCORABLE' ? (running.final as WhoopCycle) : generated;
        this.put(state, {
          ...running,
          final,
          view: withState(final, running.pending ? 'pending' : 'final', this.bump(running, nowMs), generated.end),
        });
      }
      for (const entry of this.materialiseDay(state, this.endDay)) {
        events.push(...this.eventsFor(entry));
      }
      for (const entry of this.materialiseDaytime(state, previousEnd)) {
        events.push(...this.eventsFor(entry));
      }
      for (const type of ['sleep', 'recovery', 'cycle', 'workout'] as const) {
        for (const entry of [...(state.entries.get(type)?.values() ?? [])]) {
          if (entry.pending && !this.isPendingDay(entry)) {
            this.settle(state, entry, nowMs);
            events.push(...this.eventsFor(entry));
          }
        }
      }
    }
    return events;
  }

  private isPendingDay(entry: Entry): boolean {
    if (entry.day >= this.endDay) {
      return true;
    }
    const daytime = entry.type === 'cycle' || entry.type === 'workout' || (entry.view as WhoopSleep).nap === true;
    return daytime && entry.day === this.endDay - 1;
  }
}

function withoutEnd(cycle: WhoopCycle): WhoopCycle {
  const copy = { ...cycle };
  delete copy.end;
  return copy;
}

function cycleEnd(record: WhoopRecord): string | undefined {
  return 'id' in record && typeof record.id === 'number' ? (record as WhoopCycle).end : undefined;
}

/** A small, visible change to a scored record, as a member's edit would cause. */
function revise(record: WhoopRecord): WhoopRecord {
  if (!record.score) {
    return record;
  }
  if ('sleep_id' in record && record.score) {
    return { ...record, score: { ...record.score, recovery_score: Math.min(100, record.score.recovery_score + 1) } };
  }
  if ('nap' in record && record.score) {
    const stages = record.score.stage_summary;
    return {
      ...record,
      score: {
        ...record.score,
        stage_summary: {
          ...stages,
          total_awake_time_milli: stages.total_awake_time_milli + 60_000,
          total_light_sleep_time_milli: stages.total_light_sleep_time_milli - 60_000,
        },
      },
    };
  }
  if ('sport_name' in record && record.score) {
    return {
      ...record,
      score: { ...record.score, strain: Math.min(21, Math.round((record.score.strain + 0.1) * 1e4) / 1e4) },
    };
  }
  const cycle = record as WhoopCycle;
  return cycle.score ? { ...cycle, score: { ...cycle.score, strain: Math.min(21, cycle.score.strain + 0.1) } } : cycle;
}
