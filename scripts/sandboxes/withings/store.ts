/**
 * The Withings sandbox's record store: each person's generated history between the first day and the current day
 * (the newest day with data), with the changes made since on top: days added (`addDay`), measure groups edited
 * (`modified` bumps, as Withings does when a measure of a group changes) and deleted.
 *
 * Nothing per minute is stored: intraday series are regenerated from (person, day) on every request. The lists the
 * API pages through (measure groups, activities, workouts, sleep summaries) are built once per person and rebuilt
 * after a change. Every change returns the notifications Withings would send: `{userId, appli, startdate, enddate}`.
 */
import { createPerson, dayNumberOf } from '../whoop/data.ts';
import type { PersonTraits } from '../whoop/data.ts';
import { APPLI, decodeMeasure, encodeMeasure, localMidnightMs, WithingsGenerator } from './data.ts';
import type { Activity, Appli, IntradayEntry, MeasureGroup, SleepSegment, SleepSummary, Workout } from './data.ts';

export { createPerson };

/** One change to the records, with the sandbox time (ms) it happened at. */
export type RecordOp =
  | { op: 'add-day'; at: number }
  | { op: 'edit-measure'; userId: number; grpid: number; changes: MeasureChange[]; at: number }
  | { op: 'delete-measure'; userId: number; grpid: number; at: number };

/** A new real value (value × 10^unit) for one measure type of a group. */
export interface MeasureChange {
  type: number;
  value: number;
}

/** What a change tells the notification sender. Times are epoch seconds. */
export interface DataChange {
  userId: number;
  appli: Appli;
  startdate: number;
  enddate: number;
}

export class StoreError extends Error {}

export interface StoreOptions {
  people: PersonTraits[];
  /** The newest day with data (`YYYY-MM-DD`). */
  endDate: string;
  days: number;
}

interface GroupEntry {
  appli: Appli;
  day: number;
  group: MeasureGroup;
}

interface PersonLists {
  groups: GroupEntry[];
  activities: Activity[];
  workouts: Workout[];
  sleep: SleepSummary[];
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

export class WithingsStore {
  readonly firstDay: number;
  currentDay: number;
  private readonly generators = new Map<number, WithingsGenerator>();
  /** Days added while running: their records reached Withings then, so `created`/`modified` are at least that. */
  private readonly addedAt = new Map<number, number>();
  private readonly edits = new Map<string, { changes: Map<number, number>; at: number }>();
  private readonly deleted = new Set<string>();
  private readonly lists = new Map<number, PersonLists>();

  constructor(options: StoreOptions) {
    const end = dayNumberOf(options.endDate);
    this.currentDay = end;
    this.firstDay = end - options.days + 1;
    for (const person of options.people) {
      this.generators.set(person.userId, new WithingsGenerator(person));
    }
  }

  generator(userId: number): WithingsGenerator {
    const generator = this.generators.get(userId);
    if (!generator) {
      throw new StoreError(`Unknown user ${userId}`);
    }
    return generator;
  }

  private floor(day: number, natural: number): number {
    const at = this.addedAt.get(day);
    return at === undefined ? natural : Math.max(natural, at);
  }

  private listsOf(userId: number): PersonLists {
    const cached = this.lists.get(userId);
    if (cached) {
      return cached;
    }
    const generator = this.generator(userId);
    const lists: PersonLists = { groups: [], activities: [], workouts: [], sleep: [] };
    for (let day = this.firstDay; day <= this.currentDay; day++) {
      for (const entry of generator.measureGroups(day)) {
        const key = `${userId}:${entry.group.grpid}`;
        if (this.deleted.has(key)) {
          continue;
        }
        const group = { ...entry.group, measures: entry.group.measures.map((measure) => ({ ...measure })) };
        group.created = this.floor(day, group.created);
        group.modified = this.floor(day, group.modified);
        const edit = this.edits.get(key);
        if (edit) {
          group.measures = group.measures.map((measure) => {
            const value = edit.changes.get(measure.type);
            return value === undefined ? measure : { ...encodeMeasure(measure.type, value, measure.unit) };
          });
          group.modified = Math.max(group.modified, edit.at);
        }
        lists.groups.push({ appli: entry.appli, day, group });
      }
      lists.activities.push({
        ...generator.activity(day),
        modified: this.floor(day, generator.activity(day).modified),
      });
      for (const workout of generator.workouts(day)) {
        lists.workouts.push({ ...workout, modified: this.floor(day, workout.modified) });
      }
      const sleep = generator.sleepSummary(day);
      lists.sleep.push({
        ...sleep,
        created: this.floor(day, sleep.created),
        modified: this.floor(day, sleep.modified),
      });
    }
    this.lists.set(userId, lists);
    return lists;
  }

  /** Measure groups, newest first (as getmeas returns them). */
  measureGroups(userId: number): MeasureGroup[] {
    return this.listsOf(userId)
      .groups.map((entry) => entry.group)
      .sort((a, b) => b.date - a.date || b.grpid - a.grpid);
  }

  activities(userId: number): Activity[] {
    return this.listsOf(userId).activities;
  }

  workouts(userId: number): Workout[] {
    return this.listsOf(userId).workouts;
  }

  sleepSummaries(userId: number): SleepSummary[] {
    return this.listsOf(userId).sleep;
  }

  /** The watch's minute entries in [fromSec, toSec), keyed by epoch-second strings, from the days that exist. */
  intraday(userId: number, fromSec: number, toSec: number): Record<string, IntradayEntry> {
    const generator = this.generator(userId);
    const person = generator.person;
    const result: Record<string, IntradayEntry> = {};
    for (let day = this.firstDay; day <= this.currentDay; day++) {
      const dayStart = seconds(localMidnightMs(person, day));
      const dayEnd = seconds(localMidnightMs(person, day + 1));
      if (dayEnd <= fromSec || dayStart >= toSec) {
        continue;
      }
      for (const [at, entry] of generator.intraday(day)) {
        if (at >= fromSec && at < toSec) {
          result[String(at)] = entry;
        }
      }
    }
    return result;
  }

  /** Sleep segments that start in [fromSec, toSec). */
  sleepSegments(userId: number, fromSec: number, toSec: number): SleepSegment[] {
    const generator = this.generator(userId);
    const result: SleepSegment[] = [];
    for (const summary of this.sleepSummaries(userId)) {
      if (summary.enddate <= fromSec || summary.startdate >= toSec) {
        continue;
      }
      const day = dayNumberOf(summary.date);
      result.push(...generator.sleepSegments(day).filter((s) => s.startdate >= fromSec && s.startdate < toSec));
    }
    return result;
  }

  /** The end of the newest day with data (epoch seconds), in a person's zone. */
  endOfData(userId: number): number {
    return seconds(localMidnightMs(this.generator(userId).person, this.currentDay + 1));
  }

  apply(op: RecordOp): DataChange[] {
    switch (op.op) {
      case 'add-day':
        return this.addDay(op.at);
      case 'edit-measure':
        return this.editMeasure(op.userId, op.grpid, op.changes, op.at);
      case 'delete-measure':
        return this.deleteMeasure(op.userId, op.grpid);
    }
  }

  private findGroup(userId: number, grpid: number): GroupEntry {
    const entry = this.listsOf(userId).groups.find((candidate) => candidate.group.grpid === grpid);
    if (!entry) {
      throw new StoreError(`No measure group ${grpid} for user ${userId}`);
    }
    return entry;
  }

  private addDay(at: number): DataChange[] {
    this.currentDay += 1;
    const day = this.currentDay;
    this.addedAt.set(day, seconds(at));
    this.lists.clear();
    const changes: DataChange[] = [];
    for (const [userId, generator] of this.generators) {
      const person = generator.person;
      const dayStart = seconds(localMidnightMs(person, day));
      const dayEnd = seconds(localMidnightMs(person, day + 1)) - 1;
      const groups = generator.measureGroups(day);
      for (const appli of [APPLI.weight, APPLI.temperature, APPLI.pressure] as const) {
        const dates = groups.filter((entry) => entry.appli === appli).map((entry) => entry.group.date);
        if (dates.length > 0) {
          changes.push({ userId, appli, startdate: Math.min(...dates), enddate: Math.max(...dates) });
        }
      }
      changes.push({ userId, appli: APPLI.activity, startdate: dayStart, enddate: dayEnd });
      const sleep = generator.sleepSummary(day);
      changes.push({ userId, appli: APPLI.sleep, startdate: sleep.startdate, enddate: sleep.enddate });
    }
    return changes;
  }

  private editMeasure(userId: number, grpid: number, changes: MeasureChange[], at: number): DataChange[] {
    const entry = this.findGroup(userId, grpid);
    for (const change of changes) {
      if (!entry.group.measures.some((measure) => measure.type === change.type)) {
        throw new StoreError(`Measure group ${grpid} has no measure of type ${change.type}`);
      }
    }
    const key = `${userId}:${grpid}`;
    const edit = this.edits.get(key) ?? { changes: new Map<number, number>(), at: 0 };
    for (const change of changes) {
      edit.changes.set(change.type, change.value);
    }
    edit.at = Math.max(edit.at, seconds(at), entry.group.modified + 1);
    this.edits.set(key, edit);
    this.lists.delete(userId);
    return [{ userId, appli: entry.appli, startdate: entry.group.date, enddate: entry.group.date }];
  }

  private deleteMeasure(userId: number, grpid: number): DataChange[] {
    const entry = this.findGroup(userId, grpid);
    this.deleted.add(`${userId}:${grpid}`);
    this.lists.delete(userId);
    return [{ userId, appli: entry.appli, startdate: entry.group.date, enddate: entry.group.date }];
  }

  /** Ground truth for tests: a group's real values by measure type. */
  realValues(userId: number, grpid: number): Record<number, number> {
    const entry = this.findGroup(userId, grpid);
    return Object.fromEntries(entry.group.measures.map((measure) => [measure.type, decodeMeasure(measure)]));
  }
}
