/**
 * Which RecordReader the insight components use (clinician-reader.ts): the owner's pages provide none and get the
 * direct reader; the clinician view provides the audited one.
 */
import type { MedplumClient } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { createContext, useContext, useMemo } from 'react';
import { directReader } from './clinician-reader.ts';
import type { RecordReader } from './clinician-reader.ts';

/** Which reader the components below use; absent: the owner's direct reader. */
export const RecordReaderContext = createContext<((medplum: MedplumClient) => RecordReader) | undefined>(undefined);

/**
 * @returns The reader for the signed-in user, stable across renders.
 */
export function useRecordReader(): RecordReader {
  const medplum = useMedplum();
  const factory = useContext(RecordReaderContext);
  return useMemo(() => (factory ?? directReader)(medplum), [factory, medplum]);
}
