import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import { PreferencesResultSchema } from '../../../../bots/analytics/owner-api.ts';
import type { PreferencesInput, PreferencesResult } from '../../../../bots/analytics/owner-api.ts';
import { executeOwnerBot } from '../../lib/bots.ts';

export interface PreferencesState {
  /** Undefined until the first answer. */
  readonly preferences: PreferencesResult | undefined;
  /** Why loading failed (cleared by the next successful answer). */
  readonly loadError: string | undefined;
  readonly reload: () => void;
  /**
   * Sends one change; on success the page shows what the bot answers (the stored state after the change).
   * @returns undefined on success, else the error's text for the caller to show where the change was made
   */
  readonly change: (input: PreferencesInput) => Promise<string | undefined>;
}

/**
 * The owner's alert rules and source ladders through the `preferences` bot: every read and write goes through it
 * (owners cannot read Basic, which also holds the token store), and every answer is the full, validated state, so
 * the page never shows a change the server did not keep.
 * @returns the state and the actions
 */
export function usePreferences(): PreferencesState {
  const medplum = useMedplum();
  const [preferences, setPreferences] = useState<PreferencesResult>();
  const [loadError, setLoadError] = useState<string>();
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let active = true;
    executeOwnerBot(medplum, 'preferences', { action: 'get' }, PreferencesResultSchema)
      .then((result) => {
        if (active) {
          setPreferences(result);
          setLoadError(undefined);
        }
      })
      .catch((err: unknown) => {
        if (active) {
          setLoadError(normalizeErrorString(err));
        }
      });
    return () => {
      active = false;
    };
  }, [medplum, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  const change = useCallback(
    async (input: PreferencesInput): Promise<string | undefined> => {
      try {
        setPreferences(await executeOwnerBot(medplum, 'preferences', { ...input }, PreferencesResultSchema));
        return undefined;
      } catch (err) {
        // Recovered here: the caller shows the message beside the control that made the change.
        return normalizeErrorString(err);
      }
    },
    [medplum]
  );

  return { preferences, loadError, reload, change };
}
