import { Alert, Card, Code, List, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import type { Bot } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import type { JSX } from 'react';
import { BOT_IDENTIFIER_SYSTEM } from '../../../../bots/shared/systems.ts';
import { formatDateTime } from '../../lib/time.ts';

type BotsState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | {
      readonly status: 'ready';
      readonly bots: { readonly key: string; readonly name: string; readonly updated?: string }[];
    };

/** Bots deploy installed (recognised by Baseline's bot identifier), so the admin can see the deployment at a glance. */
function useBaselineBots(): BotsState {
  const medplum = useMedplum();
  const [state, setState] = useState<BotsState>({ status: 'loading' });
  useEffect(() => {
    let active = true;
    medplum
      .searchResources('Bot', { _count: '100' }, { cache: 'no-cache' })
      .then((bots: Bot[]) => {
        const ours = bots.flatMap((bot) => {
          const key = bot.identifier?.find((i) => i.system === BOT_IDENTIFIER_SYSTEM)?.value;
          return key ? [{ key, name: bot.name ?? key, updated: bot.meta?.lastUpdated }] : [];
        });
        ours.sort((a, b) => a.key.localeCompare(b.key));
        if (active) {
          setState({ status: 'ready', bots: ours });
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
  }, [medplum]);
  return state;
}

/**
 * Home for a project administrator. An admin is neither a patient nor a clinician with shared patients, so the
 * patient pages and the clinician view would both be wrong; this page says what the account is for, where
 * administration happens (the Medplum console and `npm run deploy`), and shows which project and bots this app is
 * talking to.
 * @returns The admin home.
 */
export function AdminPage(): JSX.Element {
  const medplum = useMedplum();
  const project = medplum.getProject();
  const bots = useBaselineBots();

  return (
    <Stack maw={860} mx="auto" gap="lg">
      <div>
        <Title order={2} data-testid="admin-heading">
          Project administration
        </Title>
        <Text c="dimmed">
          You are signed in as an administrator of this Baseline project. This account has no health record of its own:
          patients use this app for their wearables, and clinicians see what patients share with them.
        </Text>
      </div>

      <Alert color="blue" variant="light" title="Administration happens in the Medplum console">
        <Text size="sm">
          Use the Medplum console of this server for people and invitations, Project secrets (such as{' '}
          <Code>WHOOP_CLIENT_ID</Code>), Bots and their runs (AuditEvents), sync work (Tasks), Subscriptions and
          AccessPolicies. Baseline itself is installed and updated with <Code>npm run deploy</Code> from its repository.
        </Text>
      </Alert>

      <Card withBorder padding="lg">
        <Stack gap="sm">
          <Title order={3}>This deployment</Title>
          <List spacing={4} size="sm">
            <List.Item>
              Project:{' '}
              <Text span fw={500} data-testid="admin-project">
                {project?.name ?? 'unknown'}
              </Text>{' '}
              {project?.id && <Code style={{ overflowWrap: 'anywhere' }}>{project.id}</Code>}
            </List.Item>
            <List.Item>
              Medplum server: <Code style={{ overflowWrap: 'anywhere' }}>{medplum.getBaseUrl()}</Code>
            </List.Item>
          </List>

          {bots.status === 'loading' && <Loader size="sm" aria-label="Loading the deployed bots" />}
          {bots.status === 'error' && (
            <Alert color="orange" variant="light" title="Could not list the deployed bots">
              <Text size="sm">Baseline could not read this project&apos;s Bots just now. Details: {bots.error}</Text>
            </Alert>
          )}
          {bots.status === 'ready' && bots.bots.length === 0 && (
            <Alert color="orange" variant="light" title="Baseline is not deployed to this project">
              <Text size="sm">
                No Baseline bots were found. Run <Code>npm run deploy</Code> against this server to install them.
              </Text>
            </Alert>
          )}
          {bots.status === 'ready' && bots.bots.length > 0 && (
            <>
              <Text size="sm" data-testid="admin-bot-count">
                {bots.bots.length} Baseline bots deployed.
              </Text>
              <Table.ScrollContainer minWidth={320}>
                <Table striped withTableBorder fz="sm">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Bot</Table.Th>
                      <Table.Th>Last updated</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {bots.bots.map((bot) => (
                      <Table.Tr key={bot.key}>
                        <Table.Td>{bot.name}</Table.Td>
                        <Table.Td>{bot.updated ? formatDateTime(new Date(bot.updated)) : 'unknown'}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </>
          )}
        </Stack>
      </Card>
    </Stack>
  );
}
