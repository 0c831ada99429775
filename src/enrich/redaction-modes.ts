/** The redaction modes, least to most (redact.ts says what each hides); apart so that flags can list them without the lexer. */
export const REDACTION_MODES = ['none', 'passwords', 'literals', 'all'] as const;
export type RedactionMode = (typeof REDACTION_MODES)[number];
export const DEFAULT_REDACTION_MODE: RedactionMode = 'passwords';
