/**
 * The synthetic people every sandbox serves: one seed and index is one person (scripts/sandboxes/whoop/data.ts
 * createPerson), whichever devices they wear — so WHOOP, Withings and Oura show the same physiology, illnesses and
 * demo episode. Each sandbox derives its own records and user ids from these traits.
 */
import { createPerson, dateOfDay, dayNumberOf } from './whoop/data.ts';
import type { PersonTraits } from './whoop/data.ts';
import type { SandboxPersonName } from './whoop/server.ts';

/**
 * @param params.seed - the sandbox seed
 * @param params.people - how many people, or a name (and optional demo episode) for each; default one
 * @param params.baseEndDate - the current day of the records' history, which a demo episode is placed before
 * @param params.savedStart - for a history resumed from saved state: the episode start it recorded for a person
 *   (then the names' `recentEpisode` is ignored: the records already served stay as they were)
 * @returns the people, in order, each with its demo episode when it has one
 */
export function sandboxPeople(params: {
  seed: number;
  people: number | readonly SandboxPersonName[] | undefined;
  baseEndDate: string;
  savedStart?: (person: PersonTraits, index: number) => string | undefined;
}): PersonTraits[] {
  const names = typeof params.people === 'object' ? params.people : undefined;
  const count = typeof params.people === 'number' ? params.people : (names?.length ?? 1);
  if (!Number.isInteger(count) || count < 1) {
    throw new Error('people must be at least 1');
  }
  return Array.from({ length: count }, (_, index) => {
    const { recentEpisode: wanted, ...name } = names?.[index] ?? {};
    const person: PersonTraits = { ...createPerson(params.seed, index), ...name };
    let start: string | undefined;
    if (params.savedStart) {
      start = params.savedStart(person, index);
    } else if (wanted !== undefined) {
      if (!Number.isInteger(wanted.startDaysBeforeCurrent) || wanted.startDaysBeforeCurrent < 0) {
        throw new Error('recentEpisode.startDaysBeforeCurrent must be an integer ≥ 0');
      }
      start = dateOfDay(dayNumberOf(params.baseEndDate) - wanted.startDaysBeforeCurrent);
    }
    if (start !== undefined) {
      person.recentEpisode = { startDay: dayNumberOf(start) };
    }
    return person;
  });
}

/** A person as a sandbox lists it (`users`), under that provider's user id. */
export function sandboxUser<Id extends number | string>(
  person: PersonTraits,
  userId: Id
): { userId: Id; email: string; firstName: string; lastName: string; timeZone: string; recentEpisodeStart?: string } {
  return {
    userId,
    email: person.email,
    firstName: person.firstName,
    lastName: person.lastName,
    timeZone: person.zone.name,
    ...(person.recentEpisode ? { recentEpisodeStart: dateOfDay(person.recentEpisode.startDay) } : {}),
  };
}

export interface SavedEpisode {
  readonly userId: number;
  readonly startDate: string;
}

/**
 * The people of a sandbox that serves them under their own user ids (WHOOP, Withings), with the demo episodes its
 * saved state must keep: placed when the history is first generated, replayed from the saved state after.
 * @param params.seed - the sandbox seed
 * @param params.people - how many people, or a name for each
 * @param params.baseEndDate - the current day of the records' history
 * @param params.saved - the episodes a resumed history recorded; absent for a new history
 * @returns the people, their episodes (for the saved state), their user listing, and the first person's id
 */
export function sandboxPopulation(params: {
  seed: number;
  people: number | readonly SandboxPersonName[] | undefined;
  baseEndDate: string;
  saved?: readonly SavedEpisode[];
}): {
  people: PersonTraits[];
  episodes: SavedEpisode[];
  users: ReturnType<typeof sandboxUser<number>>[];
  personById: Map<number, PersonTraits>;
  defaultUserId: number;
} {
  const { saved } = params;
  const savedStart = new Map((saved ?? []).map((e) => [e.userId, e.startDate]));
  const people = sandboxPeople({
    seed: params.seed,
    people: params.people,
    baseEndDate: params.baseEndDate,
    ...(saved ? { savedStart: (person: PersonTraits) => savedStart.get(person.userId) } : {}),
  });
  const defaultUserId = people[0]?.userId;
  if (defaultUserId === undefined) {
    throw new Error('people must be at least 1');
  }
  return {
    people,
    episodes: people.flatMap((person) =>
      person.recentEpisode ? [{ userId: person.userId, startDate: dateOfDay(person.recentEpisode.startDay) }] : []
    ),
    users: people.map((person) => sandboxUser(person, person.userId)),
    personById: new Map(people.map((person) => [person.userId, person])),
    defaultUserId,
  };
}
