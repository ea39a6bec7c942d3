import { Alert, Anchor, Button, Group, Loader, Stack, Text, Title } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useRef, useState } from 'react';
import type { JSX, ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { HumanErrorAlert } from '../../components/HumanErrorAlert/HumanErrorAlert.tsx';
import { useConnectProvider } from '../../hooks/useConnectProvider.ts';
import { executeOwnerBot } from '../../lib/bots.ts';
import { connectRedirectUri, parseConnectCallback, stripOAuthParams } from '../../lib/connect-callback.ts';
import type { ConnectCallbackParams } from '../../lib/connect-callback.ts';
import { ConnectCallbackResponseSchema } from '../../lib/connections.ts';
import { describeConnectFailure, describeProviderRedirectError } from '../../lib/human-errors.ts';
import type { HumanError } from '../../lib/human-errors.ts';
import { providerByKey } from '../../lib/providers.ts';
import type { ProviderInfo } from '../../lib/providers.ts';
import { showSuccessNotification } from '../../utils/notifications.ts';

/**
 * `/connect/:provider/callback`: where the provider's consent screen sends the user back. Checks nothing itself;
 * hands `code` + `state` to connect-callback, which verifies the state, exchanges the code and creates the
 * connection. The code is single-use, so it is sent once per page load (a ref survives StrictMode's second effect
 * run) and removed from the address bar before the request, so neither a reload nor Back can send it again.
 * @returns The callback page.
 */
export function ConnectCallbackPage(): JSX.Element {
  const { provider: providerKey } = useParams();
  const provider = providerByKey(providerKey);
  if (!provider) {
    return (
      <CallbackShell title="Unknown connection">
        <Alert color="red" title="Baseline cannot connect this provider">
          There is no provider called {providerKey ?? '(none)'} to connect.
        </Alert>
      </CallbackShell>
    );
  }
  return <LiveCallback provider={provider} />;
}

function LiveCallback(props: { readonly provider: ProviderInfo }): JSX.Element {
  const { provider } = props;
  const medplum = useMedplum();
  const navigate = useNavigate();
  const { connect, connecting } = useConnectProvider();
  // Read once: the URL is cleaned right after, and later renders must still know what arrived.
  const [params] = useState<ConnectCallbackParams>(() => parseConnectCallback(window.location.search));
  const [failure, setFailure] = useState<string>();
  const sent = useRef(false);

  useEffect(() => {
    if (params.kind !== 'code' || sent.current) {
      return;
    }
    sent.current = true;
    window.history.replaceState(window.history.state, '', stripOAuthParams(window.location.href));
    executeOwnerBot(
      medplum,
      'connect-callback',
      {
        provider: provider.key,
        code: params.code,
        state: params.state,
        redirectUri: connectRedirectUri(window.location.origin, provider.key),
      },
      ConnectCallbackResponseSchema
    )
      .then(async () => {
        showSuccessNotification(
          `${provider.name} connected`,
          'Baseline is importing your history now; this page shows the progress.'
        );
        await navigate('/connections', { replace: true });
      })
      // No unmount guard: StrictMode's simulated unmount would otherwise swallow the only request's answer.
      .catch((err: unknown) => setFailure(normalizeErrorString(err)));
  }, [medplum, navigate, params, provider]);

  const actions = (retry: boolean): JSX.Element => (
    <Group>
      {retry && (
        <Button loading={connecting === provider.key} onClick={() => void connect(provider)}>
          Try again
        </Button>
      )}
      <Anchor component={Link} to="/connections">
        Back to connections
      </Anchor>
    </Group>
  );

  const failed = (error: HumanError): JSX.Element => (
    <CallbackShell title={`Connect ${provider.name}`}>
      <HumanErrorAlert error={error} data-testid="connect-error" />
      {actions(error.retry)}
    </CallbackShell>
  );

  if (params.kind === 'error') {
    return failed(describeProviderRedirectError(provider.name, params.error, params.description));
  }
  if (params.kind === 'missing') {
    return (
      <CallbackShell title={`Connect ${provider.name}`}>
        <Alert color="gray" title="Nothing to finish here">
          This page completes a connection when {provider.name} sends you back to Baseline. It was opened without{' '}
          {provider.name}&apos;s answer, so there is nothing to do.
        </Alert>
        {actions(true)}
      </CallbackShell>
    );
  }
  if (failure) {
    return failed(describeConnectFailure(provider.name, failure));
  }
  return (
    <CallbackShell title={`Connect ${provider.name}`}>
      <Group gap="sm">
        <Loader size="sm" />
        <Text>Finishing the connection to {provider.name}…</Text>
      </Group>
    </CallbackShell>
  );
}

function CallbackShell(props: { readonly title: string; readonly children: ReactNode }): JSX.Element {
  return (
    <Stack maw={560} mx="auto" mt="xl" gap="md">
      <Title order={2}>{props.title}</Title>
      {props.children}
    </Stack>
  );
}
