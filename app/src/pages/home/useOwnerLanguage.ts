import type { Patient } from '@medplum/fhirtypes';
import { useCallback, useState } from 'react';
import { initialLanguage, rememberLanguage } from '../../lib/language.ts';
import type { Language } from '../../lib/language.ts';
import { medplumStorage } from '../../lib/storage.ts';

function browserLanguages(): readonly string[] {
  return navigator.languages.length > 0 ? navigator.languages : [navigator.language];
}

/**
 * The language Home's insights are shown in: the owner's last choice on this browser, else their record's, else the
 * browser's (lib/language.ts). A change is remembered at once, so the next visit opens in it.
 * @param patient - the signed-in Patient
 * @returns the language and the setter the toggle calls
 */
export function useOwnerLanguage(patient: Patient): readonly [Language, (language: Language) => void] {
  const [language, setLanguage] = useState<Language>(() =>
    initialLanguage(medplumStorage, patient, browserLanguages())
  );
  const choose = useCallback(
    (next: Language) => {
      rememberLanguage(medplumStorage, patient.id, next);
      setLanguage(next);
    },
    [patient.id]
  );
  return [language, choose] as const;
}
