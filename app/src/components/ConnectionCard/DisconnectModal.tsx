import { Alert, Button, Group, Modal, Radio, Stack, Text } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import type { JSX } from 'react';
import { executeOwnerBot } from '../../lib/bots.ts';
import { DisconnectResponseSchema } from '../../lib/connections.ts';
import type { ConnectionView } from '../../lib/connections.ts';
import type { ProviderInfo } from '../../lib/providers.ts';
import { showErrorNotification } from '../../utils/notifications.ts';

export interface DisconnectResult {
  readonly connection: ConnectionView;
  readonly erase: boolean;
  readonly erased: number;
  readonly revoked: boolean | undefined;
}

export interface DisconnectModalProps {
  readonly provider: ProviderInfo;
  readonly opened: boolean;
  readonly onClose: () => void;
  readonly onDisconnected: (result: DisconnectResult) => void;
}

/**
 * Disconnecting asks one question first: keep what was imported (the default, and reversible by reconnecting) or
 * erase it (permanent). The choice goes to the disconnect bot as `erase`.
 * @param props - the provider and the modal's open state and callbacks.
 * @returns The modal.
 */
export function DisconnectModal(props: DisconnectModalProps): JSX.Element {
  const { provider, opened, onClose, onDisconnected } = props;
  const medplum = useMedplum();
  const [choice, setChoice] = useState<'keep' | 'erase'>('keep');
  const [submitting, setSubmitting] = useState(false);
  const erase = choice === 'erase';

  const close = (): void => {
    if (!submitting) {
      setChoice('keep');
      onClose();
    }
  };

  const confirm = async (): Promise<void> => {
    setSubmitting(true);
    try {
      const result = await executeOwnerBot(
        medplum,
        'disconnect',
        { provider: provider.key, erase },
        DisconnectResponseSchema
      );
      setChoice('keep');
      onDisconnected({ connection: result.connection, erase, erased: result.erased, revoked: result.revoked });
    } catch (err) {
      showErrorNotification(err, `Could not disconnect ${provider.name}`);
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <Modal opened={opened} onClose={close} title={`Disconnect ${provider.name}`} centered>
      <Stack gap="md">
        <Text size="sm">Baseline will stop importing new data from {provider.name}.</Text>
        <Radio.Group
          label="What should happen to the data already imported?"
          value={choice}
          onChange={(value) => setChoice(value === 'erase' ? 'erase' : 'keep')}
        >
          <Stack gap="sm" mt="xs">
            <Radio
              value="keep"
              label="Keep the data already imported"
              description="Your measurements stay in your record. You can reconnect later."
            />
            <Radio
              value="erase"
              color="red"
              label={`Erase everything imported from ${provider.name}`}
              description={`Deletes every measurement Baseline imported from ${provider.name} from your record.`}
            />
          </Stack>
        </Radio.Group>
        {erase && (
          <Alert color="red" variant="light" title="This cannot be undone" data-testid="erase-warning">
            The data is deleted permanently, including anything a clinician could see through a share. {provider.name}{' '}
            keeps its own copy; Baseline cannot restore this one.
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={close} disabled={submitting}>
            Cancel
          </Button>
          <Button color="red" loading={submitting} onClick={() => void confirm()}>
            {erase ? 'Disconnect and erase data' : 'Disconnect and keep data'}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
