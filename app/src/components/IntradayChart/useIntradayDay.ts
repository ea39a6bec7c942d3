import { normalizeErrorString } from '@medplum/core';
import type { Bundle, Device, Observation } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { buildIntradayQuery, readIntradayDay } from '../../lib/intraday.ts';
import type { IntradayDay, TimeRange } from '../../lib/intraday.ts';

export type IntradayState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly day: IntradayDay };

function split(bundle: Bundle): { observations: Observation[]; devices: Map<string, Device> } {
  const observations: Observation[] = [];
  const devices = new Map<string, Device>();
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    if (resource?.resourceType === 'Observation') {
      observations.push(resource);
    } else if (resource?.resourceType === 'Device' && resource.id) {
      devices.set(`Device/${resource.id}`, resource);
    }
  }
  return { observations, devices };
}

/**
 * The owner's series of one metric for one local day: one search (the day's one or two UTC-day resources per device
 * series, with their Devices), decoded and stitched by lib/intraday.ts.
 * @param patientId - the owner's Patient id
 * @param metric - a catalogue metric that takes SampledData
 * @param range - the local day
 * @returns the day's series, or the loading / error state
 */
export function useIntradayDay(patientId: string, metric: Metric, range: TimeRange): IntradayState {
  const medplum = useMedplum();
  const [state, setState] = useState<IntradayState>({ status: 'loading' });
  const key = `${patientId}|${metric.key}|${range.start}|${range.end}`;

  useEffect(() => {
    let active = true;
    setState({ status: 'loading' });
    medplum
      .search('Observation', buildIntradayQuery(patientId, metric, range), { cache: 'no-cache' })
      .then((bundle) => {
        if (active) {
          const { observations, devices } = split(bundle);
          setState({ status: 'ready', day: readIntradayDay(observations, devices, metric, range) });
        }
      })
      .catch((err: unknown) => {
        if (active) {
          setState({ status: 'error', error: normalizeErrorString(err) });
        }
      });
    return () => {
      active = false;
    };
    // `key` names everything the search depends on; metric and range are rebuilt by callers on every render.
  }, [medplum, key]);

  return state;
}
