// A value that is nearly always an expression (a trigger's subject, a filter the rule builder
// cannot show): the expression editor at once (empty = not set); a literal already there stays
// editable as one.
import type { Json } from "../../api/types";
import { ExpressionEditor } from "./ExpressionEditor";
import { ValueField, isExpr } from "./ValueField";

export function ExpressionField({ id, name, path, label, hint, value, paths, readOnly, onChange }: { id: string; name: string; path?: string; label: string; hint: string; value: Json | undefined; paths: string[]; readOnly: boolean; onChange: (value: Json | undefined) => void }) {
  if (value !== undefined && !isExpr(value)) {
    return <ValueField id={id} name={name} dataPath={path} schema={{ title: label, description: hint }} value={value} required={false} readOnly={readOnly} paths={paths} onChange={onChange} />;
  }
  return (
    <div className="field" data-field={name} data-path={path}>
      <label htmlFor={id}>{label}</label>
      <ExpressionEditor id={id} value={value?.$expr ?? ""} paths={paths} readOnly={readOnly} placeholder="an expression" onChange={(text) => onChange(text.trim() === "" ? undefined : { $expr: text })} />
      <p className="hint">{hint}</p>
    </div>
  );
}
