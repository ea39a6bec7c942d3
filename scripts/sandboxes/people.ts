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
