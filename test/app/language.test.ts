import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  defaultLanguage,
  initialLanguage,
  languageStorageKey,
  rememberLanguage,
  supportedLanguage,
} from '../../app/src/lib/language.ts';
import type { LanguageStore } from '../../app/src/lib/language.ts';

function patient(...langs: { code?: string; text?: string; preferred?: boolean }[]): Patient {
  return {
    resourceType: 'Patient',
    id: 'p1',
    communication: langs.map((l) => ({
      language: {
        ...(l.code ? { coding: [{ system: 'urn:ietf:bcp:47', code: l.code }] } : {}),
        ...(l.text ? { text: l.text } : {}),
      },
      ...(l.preferred !== undefined ? { preferred: l.preferred } : {}),
    })),
  };
}

function memoryStore(initial: Record<string, string> = {}): LanguageStore & { data: Record<string, string> } {
  const data = { ...initial };
  return {
    data,
    getString: (key) => data[key],
    setString: (key, value) => {
      if (value === undefined) {
        delete data[key];
      } else {
        data[key] = value;
      }
    },
  };
}

describe('supportedLanguage', () => {
  test.each([
    ['de', 'de'],
    ['de-AT', 'de'],
    ['DE_ch', 'de'],
    ['en', 'en'],
    ['en-US', 'en'],
    ['fr', undefined],
    ['deu', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%s → %s', (tag, lang) => {
    expect(supportedLanguage(tag)).toBe(lang);
  });
});

describe('defaultLanguage', () => {
  test('the preferred language of the record wins over the browser', () => {
    expect(defaultLanguage(patient({ code: 'en' }, { code: 'de-DE', preferred: true }), ['en-US'])).toBe('de');
  });
  test('without a preferred one, the first language of the record', () => {
    expect(defaultLanguage(patient({ code: 'de' }, { code: 'en' }), ['en-US'])).toBe('de');
  });
  test('a language Baseline does not write in is passed over, then the browser decides', () => {
    expect(defaultLanguage(patient({ code: 'fr', preferred: true }), ['de-CH', 'en'])).toBe('de');
  });
  test('the text of a language without a coding counts', () => {
    expect(defaultLanguage(patient({ text: 'de' }), ['en'])).toBe('de');
  });
  test('no record language: the browser, its first supported language', () => {
    expect(defaultLanguage(undefined, ['fr-FR', 'de-DE', 'en'])).toBe('de');
    expect(defaultLanguage({ resourceType: 'Patient' }, ['en-GB'])).toBe('en');
  });
  test('nothing usable: English', () => {
    expect(defaultLanguage(undefined, [])).toBe('en');
    expect(defaultLanguage(patient({ code: 'fr' }), ['ja'])).toBe('en');
  });
});

describe('remembered choice', () => {
  test('a stored choice overrides the record and the browser, per owner', () => {
    const store = memoryStore();
    const owner = patient({ code: 'de', preferred: true });
    expect(initialLanguage(store, owner, ['de'])).toBe('de');
    rememberLanguage(store, owner.id, 'en');
    expect(store.data[languageStorageKey('p1')]).toBe('en');
    expect(initialLanguage(store, owner, ['de'])).toBe('en');
    // Another person on the same browser keeps their own default.
    expect(initialLanguage(store, { ...owner, id: 'p2' }, ['de'])).toBe('de');
  });
  test('a stored value that is not a language is ignored', () => {
    const store = memoryStore({ [languageStorageKey('p1')]: 'fr' });
    expect(initialLanguage(store, patient({ code: 'de' }), [])).toBe('de');
  });
  test('without a patient id nothing is stored', () => {
    const store = memoryStore();
    rememberLanguage(store, undefined, 'de');
    expect(store.data).toEqual({});
  });
});
