// Conditions for people who do not write expressions: rules (field, operator, value) joined by
// "all" or "any" — the ten operators of SPEC §3.2 — or, when wanted, a JSONata expression.
import type { Condition, Json, Rule, RuleOperator } from "../../api/types";
import { ExpressionEditor } from "./ExpressionEditor";

export const OPERATORS: { op: RuleOperator; words: string }[] = [
  { op: "equals", words: "equals" },
  { op: "notEquals", words: "does not equal" },
  { op: "contains", words: "contains" },
  { op: "notContains", words: "does not contain" },
  { op: "greaterThan", words: "is greater than" },
  { op: "lessThan", words: "is less than" },
  { op: "greaterThanOrEqual", words: "is at least" },
  { op: "lessThanOrEqual", words: "is at most" },
  { op: "exists", words: "exists" },
  { op: "notExists", words: "does not exist" },
];

const UNARY: RuleOperator[] = ["exists", "notExists"];

export interface EditableCondition {
  mode: "all" | "any" | "expression" | "json";
  rules: Rule[];
  expression: string;
  raw: Condition | undefined;
}

const isRule = (c: unknown): c is Rule => !!c && typeof c === "object" && "field" in (c as object) && "op" in (c as object);

export function toEditable(condition: Condition | undefined): EditableCondition {
  const base = { rules: [] as Rule[], expression: "", raw: condition };
  if (!condition) return { ...base, mode: "all", rules: [{ field: "", op: "equals", value: "" }] };
  if ("$expr" in condition) return { ...base, mode: "expression", expression: condition.$expr };
  if (isRule(condition)) return { ...base, mode: "all", rules: [condition] };
  const list = ("all" in condition ? condition.all : "any" in condition ? condition.any : undefined) ?? [];
  if (list.every(isRule)) return { ...base, mode: "all" in condition ? "all" : "any", rules: list as Rule[] };
  return { ...base, mode: "json" };
}

export function fromEditable(edit: EditableCondition): Condition | undefined {
  if (edit.mode === "expression") return { $expr: edit.expression };
  if (edit.mode === "json") return edit.raw;
  const rules = edit.rules.map((rule) => (UNARY.includes(rule.op) ? { field: rule.field, op: rule.op } : rule));
  if (rules.length === 1 && edit.mode === "all") return rules[0];
  return edit.mode === "all" ? { all: rules } : { any: rules };
}

/** What a typed value means: numbers and true/false as such, quotes keep text. */
export function parseRuleValue(text: string): Json {
  const trimmed = text.trim();
  if (trimmed === "true") return true;
  if (trimmed === "false") return false;
  if (trimmed === "null") return null;
  if (trimmed !== "" && !Number.isNaN(Number(trimmed)) && /^-?\d/.test(trimmed)) return Number(trimmed);
  if (/^".*"$/.test(trimmed)) return trimmed.slice(1, -1);
  return text;
}

export function showRuleValue(value: Json | undefined): string {
  if (value === undefined) return "";
  if (typeof value === "string") return /^(true|false|null|-?\d.*)$/.test(value.trim()) ? JSON.stringify(value) : value;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function RuleBuilder({
  id,
  condition,
  onChange,
  readOnly,
  paths,
  placeholders = { field: "payload.contact.plan", expression: "e.g. payload.total > 100" },
}: {
  id: string;
  condition: Condition | undefined;
  onChange: (condition: Condition | undefined) => void;
  readOnly: boolean;
  paths: string[];
  /** Examples in the empty field and expression (what this condition reads). */
  placeholders?: { field: string; expression: string };
}) {
  const edit = toEditable(condition);
  const update = (patch: Partial<EditableCondition>) => onChange(fromEditable({ ...edit, ...patch }));
  const setRule = (index: number, patch: Partial<Rule>) =>
    update({ rules: edit.rules.map((rule, i) => (i === index ? { ...rule, ...patch } : rule)) });
  const listId = `${id}-paths`;
  return (
    <div className="rules" data-testid={`rules-${id}`}>
      <div className="rules-mode" role="radiogroup" aria-label="How the condition is written">
        {(["all", "any", "expression"] as const).map((mode) => (
          <button
            key={mode}
            type="button"
            role="radio"
            aria-checked={edit.mode === mode}
            className={`seg ${edit.mode === mode ? "is-on" : ""}`}
            disabled={readOnly}
            onClick={() => {
              if (mode === "expression") update({ mode, expression: edit.expression || "" });
              else update({ mode, rules: edit.rules.length ? edit.rules : [{ field: "", op: "equals", value: "" }] });
            }}
          >
            {mode === "all" ? "All rules match" : mode === "any" ? "Any rule matches" : "Expression"}
          </button>
        ))}
      </div>
      {edit.mode === "expression" && (
        <ExpressionEditor id={`${id}-expr`} value={edit.expression} paths={paths} readOnly={readOnly} onChange={(text) => update({ expression: text })} placeholder={placeholders.expression} />
      )}
      {edit.mode === "json" && <p className="hint">This condition nests groups of rules; edit it as an expression or in the workflow JSON.</p>}
      {(edit.mode === "all" || edit.mode === "any") && (
        <>
          <datalist id={listId}>
            {paths.map((path) => (
              <option key={path} value={path} />
            ))}
          </datalist>
          {edit.rules.map((rule, index) => (
            <div className="rule" key={index} data-testid={`rule-${index}`}>
              <input className="mono rule-field" list={listId} aria-label="Field" placeholder={placeholders.field} value={rule.field} readOnly={readOnly} onChange={(e) => setRule(index, { field: e.target.value })} />
              <select className="rule-op" aria-label="Operator" value={rule.op} disabled={readOnly} onChange={(e) => setRule(index, { op: e.target.value as RuleOperator })}>
                {OPERATORS.map((option) => (
                  <option key={option.op} value={option.op}>
                    {option.words}
                  </option>
                ))}
              </select>
              {!UNARY.includes(rule.op) ? (
                <input className="rule-value" aria-label="Value" placeholder="value" value={showRuleValue(rule.value)} readOnly={readOnly} onChange={(e) => setRule(index, { value: parseRuleValue(e.target.value) })} />
              ) : (
                <span className="rule-value" />
              )}
              {!readOnly && (
                <button type="button" className="icon-button rule-remove" aria-label={`Remove rule ${index + 1}`} disabled={edit.rules.length === 1} onClick={() => update({ rules: edit.rules.filter((_, i) => i !== index) })}>
                  ×
                </button>
              )}
            </div>
          ))}
          {!readOnly && (
            <button type="button" className="btn btn-small btn-ghost" onClick={() => update({ rules: [...edit.rules, { field: "", op: "equals", value: "" }] })}>
              + Add rule
            </button>
          )}
        </>
      )}
    </div>
  );
}
