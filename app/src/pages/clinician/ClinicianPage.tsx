import { Alert, Anchor, Button, Card, Group, Skeleton, Stack, Text, Title } from '@mantine/core';
import { formatHumanName, getReferenceString, normalizeErrorString } from '@medplum/core';
import type { SmartAppLaunch } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import type { ProfileResource } from '@medplum/core';
import { useCallback, useEffect, useState } from 'react';
import type { JSX } from 'react';
import { useSearchParams } from 'react-router';
import {
  describeGrant,
  NO_ACCESS_TEXT,
  noAccessReason,
  patientName,
  readSeen,
  rememberSeen,
} from '../../lib/clinician.ts';
import type { SharedOwner } from '../../lib/clinician.ts';
import { RecordReaderContext } from '../../lib/clinician-context.ts';
import { auditedReader } from '../../lib/clinician-reader.ts';
import { getConfig } from '../../config.ts';
import { clearLaunchContext } from '../../lib/launch-context.ts';
import { fhirBaseForServer } from '../../lib/smart.ts';
import { SharedPatientView } from './SharedPatientView.tsx';
import { useSharedOwners } from './useShares.ts';

export interface ClinicianPageProps {
  readonly profile: ProfileResource;
}

/**
 * The clinician view (issue 9 §3), for anyone signed in who is neither an owner nor an admin. `?patient=<id>` (where
 * an EHR launch lands) shows that owner's shared data; without it, the owners who shared with this clinician, to
 * pick from. Everything is read with the clinician's own token through the audited reader (ids by search, records
 * by id), so each record shown is in the owner's access log.
 * @param props - the signed-in profile (Practitioner, ...).
 * @returns The clinician view.
 */
export function ClinicianPage(props: ClinicianPageProps): JSX.Element {
  const [params, setParams] = useSearchParams();
  const patientId = params.get('patient') ?? undefined;
  const name = props.profile.name?.[0];
  const clinician = getReferenceString(props.profile) ?? props.profile.resourceType;

  const open = (id: string | undefined): void => {
    if (!id) {
      // Back to the list: the EHR's patient context no longer applies to what is on screen.
      clearLaunchContext();
    }
    setParams(id ? { patient: id } : {});
  };

  return (
    <RecordReaderContext.Provider value={auditedReader}>
      <Stack maw={1080} mx="auto" gap="md">
        <Group justify="space-between" align="flex-end">
          <div>
            <Title order={2} data-testid="clinician-heading">
              Clinician view
            </Title>
            <Text c="dimmed">Signed in as {name ? formatHumanName(name) : props.profile.resourceType}.</Text>
          </div>
          {patientId && (
            <Anchor component="button" type="button" onClick={() => open(undefined)} data-testid="all-patients">
              All patients who shared with you
            </Anchor>
          )}
        </Group>
        {patientId ? (
          <OnePatient key={patientId} patientId={patientId} clinician={clinician} />
        ) : (
          <PatientList clinician={clinician} onOpen={open} />
        )}
      </Stack>
    </RecordReaderContext.Provider>
  );
}

function NoAccess(props: {
  readonly title: string;
  readonly reason: 'nobody' | 'never' | 'ended';
  readonly children?: JSX.Element | string;
}): JSX.Element {
  return (
    <Alert
      color={props.reason === 'ended' ? 'orange' : 'gray'}
      variant="light"
      title={props.title}
      data-testid="clinician-no-access"
      data-reason={props.reason}
    >
      {props.children}
    </Alert>
  );
}

function OnePatient(props: { readonly patientId: string; readonly clinician: string }): JSX.Element {
  const { patientId, clinician } = props;
  const [reloadKey, setReloadKey] = useState(0);
  const state = useSharedOwners(patientId, reloadKey);
  const owner = state.status === 'ready' ? state.value[0] : undefined;
  const reload = useCallback(() => setReloadKey((k) => k + 1), []);

  useEffect(() => {
    if (owner) {
      rememberSeen(localStorage, clinician, [owner]);
    }
  }, [owner, clinician]);

  if (state.status === 'loading') {
    return <Skeleton height={160} data-testid="clinician-loading" />;
  }
  if (state.status === 'error') {
    return (
      <Alert color="red" title="Could not load this patient's shared data">
        {state.error}
      </Alert>
    );
  }
  if (state.status === 'ended' || !owner) {
    // The server answers the same (403 or nothing) for "never shared" and "no longer shared"; this browser knows
    // which only if it showed this owner to this clinician before.
    const reason =
      state.status === 'ended' ? 'ended' : noAccessReason(readSeen(localStorage, clinician), patientId).kind;
    return (
      <NoAccess title={reason === 'ended' ? NO_ACCESS_TEXT.ended : NO_ACCESS_TEXT.never} reason={reason}>
        {reason === 'ended'
          ? 'The patient revoked the grant or it expired. Nothing more of their data can be read; ask them to share again if you need it.'
          : 'When they share their Baseline data with you, it appears here.'}
      </NoAccess>
    );
  }
  return <SharedPatientView owner={owner} onEnded={reload} />;
}

function PatientList(props: { readonly clinician: string; readonly onOpen: (id: string) => void }): JSX.Element {
  const { clinician, onOpen } = props;
  const state = useSharedOwners(undefined, 0);
  const owners = state.status === 'ready' ? state.value : undefined;

  useEffect(() => {
    if (owners) {
      rememberSeen(localStorage, clinician, owners);
    }
  }, [owners, clinician]);

  if (state.status === 'loading') {
    return <Skeleton height={120} data-testid="clinician-loading" />;
  }
  if (state.status === 'error') {
    return (
      <Alert color="red" title="Could not load who shared data with you">
        {state.error}
      </Alert>
    );
  }
  if (state.status === 'ended' || !owners || owners.length === 0) {
    return (
      <NoAccess title={NO_ACCESS_TEXT.nobody} reason="nobody">
        When a patient shares their Baseline data with you, they appear here, with what they shared and until when.
      </NoAccess>
    );
  }
  return (
    <Stack gap="sm" data-testid="shared-patients">
      <Text>Patients who shared their wearable data with you:</Text>
      {owners.map((owner) => (
        <OwnerCard key={owner.patient.id} owner={owner} onOpen={() => onOpen(owner.patient.id)} />
      ))}
    </Stack>
  );
}

function OwnerCard(props: { readonly owner: SharedOwner; readonly onOpen: () => void }): JSX.Element {
  const { owner } = props;
  return (
    <Card withBorder padding="md" data-testid="shared-patient" data-patient={owner.patient.id}>
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <Stack gap={2}>
          <Text fw={600}>{patientName(owner.patient)}</Text>
          {owner.patient.birthDate && (
            <Text size="sm" c="dimmed">
              Born {owner.patient.birthDate}
            </Text>
          )}
          {owner.grants.map((grant) => {
            const text = describeGrant(grant);
            return (
              <Text size="sm" key={grant.consentId} data-testid="grant-summary">
                {text.scope}. {text.since}. {text.ends}.
              </Text>
            );
          })}
        </Stack>
        <Stack gap={4} align="flex-end">
          <Button variant="light" onClick={props.onOpen}>
            Open
          </Button>
          <EhrLaunchButton patientId={owner.patient.id} />
        </Stack>
      </Group>
    </Card>
  );
}

/**
 * What the Medplum app's patient page does for a SMART app (SmartAppLaunchLink): create a SmartAppLaunch as the
 * clinician and open the app's launch URL with `iss` and `launch`. Here for the local stack, which has no Medplum
 * app; on a real server the clinician starts the same launch from Medplum's Apps tab.
 */
function EhrLaunchButton(props: { readonly patientId: string }): JSX.Element {
  const medplum = useMedplum();
  const [error, setError] = useState<string>();
  const launch = async (): Promise<void> => {
    try {
      const created = await medplum.createResource<SmartAppLaunch>({
        resourceType: 'SmartAppLaunch',
        patient: { reference: `Patient/${props.patientId}` },
      });
      const iss = fhirBaseForServer(getConfig().baseUrl);
      window.location.assign(`/launch?iss=${encodeURIComponent(iss)}&launch=${encodeURIComponent(created.id)}`);
    } catch (err) {
      setError(normalizeErrorString(err));
    }
  };
  return (
    <>
      <Button size="xs" variant="subtle" onClick={() => void launch()} data-testid="ehr-launch">
        Launch as from the EHR (SMART)
      </Button>
      {error && (
        <Text size="xs" c="red">
          {error}
        </Text>
      )}
    </>
  );
}
