/**
 * The owner's language for what Baseline writes in words (narratives, alert messages). The bots write every text in
 * English and German, so the app only chooses which one to show: the owner's own choice when they made one on the
 * narrative card, else the language their record states (Patient.communication), else the browser's.
 *
 * Pure apart from the storage handed in: no DOM globals are read here, so the choice is testable.
 */
import type { Patient } from '@medplum/fhirtypes';

export type Language = 'en' | 'de';
export const LANGUAGES: readonly Language[] = ['en', 'de'];

/** Names in their own language: someone who cannot read the current one still finds theirs. */
export const LANGUAGE_NAMES: Readonly<Record<Language, string>> = { en: 'English', de: 'Deutsch' };

/**
 * @param tag - a BCP 47 tag ('de', 'de-AT', 'en-US', 'fr') or undefined
 * @returns the supported language it names, or undefined for one Baseline does not write in
 */
export function supportedLanguage(tag: string | undefined): Language | undefined {
  const primary = tag?.trim().toLowerCase().split(/[-_]/, 1)[0];
  return primary === 'de' ? 'de' : primary === 'en' ? 'en' : undefined;
}

/** The tags of a Patient's communication languages, the preferred ones first (the order of the record otherwise). */
function patientLanguageTags(patient: Patient | undefined): string[] {
  const entries = patient?.communication ?? [];
  const ordered = [...entries.filter((c) => c.preferred === true), ...entries.filter((c) => c.preferred !== true)];
  return ordered
    .flatMap((c) => [...(c.language.coding ?? []).map((coding) => coding.code), c.language.text])
    .filter((t): t is string => typeof t === 'string' && t !== '');
}

/**
 * The language to start in when the owner has not chosen one. The record is asked first because it is what the
 * owner (or their clinic) said; a language Baseline does not write in (French, say) is passed over rather than
 * mapped to English, so a French speaker with a German browser reads German. Nothing usable anywhere: English.
 * @param patient - the signed-in Patient
 * @param browserLanguages - navigator.languages (or [navigator.language])
 * @returns the default language
 */
export function defaultLanguage(patient: Patient | undefined, browserLanguages: readonly string[]): Language {
  for (const tag of [...patientLanguageTags(patient), ...browserLanguages]) {
    const lang = supportedLanguage(tag);
    if (lang) {
      return lang;
    }
  }
  return 'en';
}

/** What remembers the owner's choice: MedplumClient's ClientStorage (app/src/lib/storage.ts) in the app. */
export interface LanguageStore {
  getString(key: string): string | undefined;
  setString(key: string, value: string | undefined): void;
}

/** Per owner, so two people sharing a browser each keep their own choice. */
export function languageStorageKey(patientId: string): string {
  return `baseline.language.${patientId}`;
}

/**
 * @param store - where choices are kept
 * @param patient - the signed-in Patient
 * @param browserLanguages - navigator.languages
 * @returns the owner's stored choice, else the default; a stored value that is not a language is ignored
 */
export function initialLanguage(
  store: LanguageStore,
  patient: Patient | undefined,
  browserLanguages: readonly string[]
): Language {
  const stored = patient?.id ? store.getString(languageStorageKey(patient.id)) : undefined;
  return (stored === 'en' || stored === 'de' ? stored : undefined) ?? defaultLanguage(patient, browserLanguages);
}

/**
 * @param store - where choices are kept
 * @param patientId - the signed-in Patient's id
 * @param language - the owner's choice
 */
export function rememberLanguage(store: LanguageStore, patientId: string | undefined, language: Language): void {
  if (patientId) {
    store.setString(languageStorageKey(patientId), language);
  }
}
