/**
 * German labels for the narrative (issue 8 §4). The catalogue holds English labels only; this table covers every
 * series WHOOP produces today (the test checks that against the catalogue). A metric missing here is shown with its
 * English label, which is the catalogue's name for it, rather than with an invented translation.
 */

/** Series key (catalogue key, or `<panel>.<componentCode>`) → German label. */
export const GERMAN_LABELS: Readonly<Record<string, string>> = Object.freeze({
  'heart-rate': 'Herzfrequenz',
  'resting-heart-rate': 'Ruhepuls',
  'hrv-rmssd': 'HRV (RMSSD)',
  'heart-rate-average': 'Durchschnittliche Herzfrequenz',
  'heart-rate-max': 'Maximale Herzfrequenz',
  'hr-zone-durations': 'Herzfrequenzzonen',
  'hr-zone-durations.hr-zone-0': 'Herzfrequenzzone 0',
  'hr-zone-durations.hr-zone-1': 'Herzfrequenzzone 1',
  'hr-zone-durations.hr-zone-2': 'Herzfrequenzzone 2',
  'hr-zone-durations.hr-zone-3': 'Herzfrequenzzone 3',
  'hr-zone-durations.hr-zone-4': 'Herzfrequenzzone 4',
  'hr-zone-durations.hr-zone-5': 'Herzfrequenzzone 5',
  spo2: 'Blutsauerstoff (SpO2)',
  'respiratory-rate': 'Atemfrequenz',
  'skin-temperature': 'Hauttemperatur',
  'body-weight': 'Gewicht',
  'body-height': 'Körpergröße',
  'total-energy': 'Gesamtenergie',
  distance: 'Strecke',
  'altitude-gain': 'Höhenmeter',
  'workout-activity': 'Training',
  'sleep-duration': 'Schlaf',
  'sleep-deep': 'Tiefschlaf',
  'sleep-light': 'Leichtschlaf',
  'sleep-rem': 'REM-Schlaf',
  'sleep-awake': 'Wach im Bett',
  'sleep-latency': 'Einschlafzeit',
  'time-in-bed': 'Zeit im Bett',
  'sleep-efficiency': 'Schlafeffizienz',
  'whoop-sleep-need': 'Schlafbedarf (WHOOP)',
  'whoop-recovery': 'Erholung (WHOOP)',
  'whoop-day-strain': 'Tagesbelastung (WHOOP)',
  'whoop-workout-strain': 'Trainingsbelastung (WHOOP)',
  'whoop-sleep-performance': 'Schlafleistung (WHOOP)',
  'whoop-sleep-consistency': 'Schlafregelmäßigkeit (WHOOP)',
});

/** Catalogue unitLabel → German unit; a unit written the same way in German is absent and used as it is. */
export const GERMAN_UNITS: Readonly<Record<string, string>> = Object.freeze({
  'beats/min': 'Schläge/min',
  'breaths/min': 'Atemzüge/min',
  steps: 'Schritte',
  '°C difference': '°C',
});
