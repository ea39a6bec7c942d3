import { Stack, Text, Title } from '@mantine/core';
import { SignInForm } from '@medplum/react';
import type { JSX } from 'react';
import { useNavigate } from 'react-router';
import { getConfig } from '../../config.ts';

/**
 * Medplum's own sign-in form (email → password, PKCE against /auth/login then /oauth2/token), unchanged.
 * @returns The sign-in page.
 */
export function SignInPage(): JSX.Element {
  const navigate = useNavigate();
  const { clientId, projectId } = getConfig();

  return (
    <Stack maw={420} mx="auto" mt="xl" gap="md">
      <SignInForm
        {...(clientId ? { clientId } : {})}
        {...(projectId ? { projectId } : {})}
        disableGoogleAuth
        onSuccess={() => void navigate('/', { replace: true })}
      >
        <Stack align="center" gap={4} mb="md">
          <Title order={2}>Sign in to Baseline</Title>
          <Text c="dimmed" size="sm" ta="center">
            Your wearable data, in your own health record.
          </Text>
        </Stack>
      </SignInForm>
    </Stack>
  );
}
