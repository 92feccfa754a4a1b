// A filter on arriving events (a trigger's "Only when", an event.wait's filter): the rule builder
// (all / any / expression); no rule naming a field leaves no filter (every event passes). A
// filter the builder cannot show (from JSON: a literal, a JSONata source as text) stays a plain
// field.
import { useState } from "react";
import type { Condition, Json } from "../../api/types";
import { filterOrNone, isCondition } from "../model/filters";
import { ExpressionField } from "./ExpressionField";
import { RuleBuilder } from "./RuleBuilder";

interface Props {
  id: string;
  /** The filter's place in the document (``triggers[0].filter``), for problems to find it. */
  path?: string;
  label: string;
  /** Under the builder: what the rules read, and what no rules means. */
  hint: string;
  value: unknown;
  /** The fields offered for rules and expressions. */
  paths: string[];
  placeholders: { field: string; expression: string };
  readOnly: boolean;
  onChange: (filter: Condition | undefined) => void;
}

export function FilterField({ id, path, label, hint, value, paths, placeholders, readOnly, onChange }: Props) {
  // what the builder shows while there is no filter (a blank rule, "any", an empty expression)
  const [blank, setBlank] = useState<Condition | undefined>(undefined);
  if (value !== undefined && !isCondition(value)) {
    return <ExpressionField id={id} name="filter" path={path} label={label} hint={hint} value={value as Json} paths={paths} readOnly={readOnly} onChange={(v) => onChange(v as Condition | undefined)} />;
  }
  const filter = value as Condition | undefined;
  return (
    <div className="field" data-field="filter" data-path={path}>
      <span className="field-label">{label}</span>
      <RuleBuilder
        id={id}
        condition={filter ?? blank}
        paths={paths}
        readOnly={readOnly}
        placeholders={placeholders}
        onChange={(condition) => {
          const next = filterOrNone(condition);
          setBlank(next ? undefined : condition);
          onChange(next);
        }}
      />
      <p className="hint">{hint}</p>
    </div>
  );
}
