/**
 * The README's configuration table, made from the field table (fields.ts):
 * `test/config/readme-table.test.ts` fails when the README's copy differs,
 * and prints the table to paste.
 */
import { FIELDS, type FieldSpec } from './fields.ts';

export function configurationTable(): string {
  const rows = Object.values(FIELDS as Record<string, FieldSpec>).map((spec) => {
    const flag = spec.flag
      ? `\`${spec.flag.spec.split(' ')[0]}${spec.flag.docValue ? ` ${spec.flag.docValue}` : ''}\`${spec.flag.repeatable ? ' (repeatable)' : ''}`
      : '—';
    const env = spec.env ? `\`${spec.env.name}\`${spec.env.note ? ` (${spec.env.note})` : ''}` : '—';
    return `| ${flag} | ${env} | ${spec.default} | ${spec.meaning.replace(/\|/g, '\\|')} |`;
  });
  return ['| flag | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
