import { AppShell, Button, Group, Text, Title } from '@mantine/core';
import { formatHumanName } from '@medplum/core';
import { ErrorBoundary, Loading, useMedplumContext } from '@medplum/react';
import { Suspense } from 'react';
import type { JSX } from 'react';
import { useSignOut } from './hooks/useSignOut.ts';
import { AppRoutes } from './Router.tsx';

/**
 * Shell: a header with the product name and, when signed in, who is signed in and a sign-out button.
 * @returns The app.
 */
export function App(): JSX.Element {
  const { medplum, profile, loading } = useMedplumContext();
  const { signOut, signingOut } = useSignOut();

  // MedplumClient restores a stored session asynchronously (GET auth/me); routing before that would flash sign-in.
  if (loading || medplum.isLoading()) {
    return <Loading />;
  }

  const name = profile?.name?.[0];

  return (
    <AppShell header={{ height: 60 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Title order={3} c="teal.8">
            Baseline
          </Title>
          {profile && (
            <Group gap="sm">
              <Text size="sm" c="dimmed" data-testid="signed-in-as">
                {name ? formatHumanName(name) : profile.resourceType}
              </Text>
              <Button variant="default" size="xs" onClick={() => void signOut()} loading={signingOut}>
                Sign out
              </Button>
            </Group>
          )}
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        <ErrorBoundary>
          <Suspense fallback={<Loading />}>
            <AppRoutes />
          </Suspense>
        </ErrorBoundary>
      </AppShell.Main>
    </AppShell>
  );
}
