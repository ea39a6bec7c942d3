import { Alert, Stack, Text, Title } from '@mantine/core';
import { formatHumanName } from '@medplum/core';
import type { ProfileResource } from '@medplum/core';
import type { JSX } from 'react';
import { readLaunchContext } from '../../lib/launch-context.ts';

export interface ClinicianPageProps {
  readonly profile: ProfileResource;
}

/**
 * Placeholder for anyone signed in who is not a Patient. Sharing is not built into the app yet, so this page says so
 * plainly instead of listing patients.
 * @param props - the signed-in profile (Practitioner, RelatedPerson, ...).
 * @returns The clinician view.
 */
export function ClinicianPage(props: ClinicianPageProps): JSX.Element {
  const name = props.profile.name?.[0];
  const launch = readLaunchContext();
  return (
    <Stack maw={720} mx="auto" gap="md">
      <Title order={2} data-testid="clinician-heading">
        Clinician view
      </Title>
      <Text c="dimmed">Signed in as {name ? formatHumanName(name) : props.profile.resourceType}.</Text>
      <Alert color="blue" variant="light" title="No shared patients yet">
        When a patient shares their Baseline data with you, it will appear here. Sharing is not available in this
        version of the app yet.
      </Alert>
      {launch?.patient && (
        <Text size="sm" data-testid="launch-context">
          Opened from your EHR with patient context Patient/{launch.patient}.
        </Text>
      )}
    </Stack>
  );
}
