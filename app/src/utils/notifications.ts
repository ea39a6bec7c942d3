import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';

/**
 * Tells the user an action failed, in Medplum's normalized wording (OperationOutcome text, HTTP status, message).
 * @param err - whatever was thrown or rejected.
 * @param title - what the user was trying to do.
 */
export function showErrorNotification(err: unknown, title = 'Something went wrong'): void {
  showNotification({ color: 'red', title, message: normalizeErrorString(err), autoClose: false });
}

/**
 * Confirms an action that changed something the user cares about (a device connected, data erased).
 * @param title - what happened.
 * @param message - the detail.
 */
export function showSuccessNotification(title: string, message: string): void {
  showNotification({ color: 'teal', title, message });
}
