// The palette: control blocks, the registry's node types and actions, searchable and grouped.
import { useMemo, useState } from "react";
import type { ActionInfo, NodeType } from "../api/types";
import { CONTROL_TYPES } from "./model/tree";
import { typeInfo } from "./steps";

export interface PaletteChoice {
  type: string;
  actionId?: string;
  version?: number;
  label: string;
}

interface Group {
  title: string;
  items: (PaletteChoice & { icon: string; help: string; key: string })[];
}

export function Palette({
  nodes,
  actions,
  target,
  onPick,
  onCancel,
  onHide,
}: {
  nodes: NodeType[];
  actions: ActionInfo[];
  /** Where the pick goes, in words ("in “Yes” of vip"), or null: after the selection / at the end. */
  target: string | null;
  onPick: (choice: PaletteChoice) => void;
  onCancel: () => void;
  /** Fold the palette to its rail (offered where the designer is narrow). */
  onHide?: () => void;
}) {
  const [query, setQuery] = useState("");
  const groups = useMemo<Group[]>(() => {
    const flow: Group = {
      title: "Flow",
      items: CONTROL_TYPES.map((type) => ({ key: type, type, label: typeInfo(type).label, icon: typeInfo(type).icon, help: typeInfo(type).help })),
    };
    const steps: Group = {
      title: "Steps",
      items: nodes
        .filter((node) => node.type !== "action.call")
        .map((node) => ({ key: node.type, type: node.type, label: typeInfo(node.type).label, icon: typeInfo(node.type).icon, help: node.description || typeInfo(node.type).help })),
    };
    const byCategory = new Map<string, Group>();
    for (const action of actions) {
      const category = action.category ?? action.actionId.split(".")[0] ?? "actions";
      const group = byCategory.get(category) ?? { title: `Actions · ${category}`, items: [] };
      group.items.push({
        key: `${action.actionId}@${action.version}`,
        type: "action.call",
        actionId: action.actionId,
        version: action.version,
        label: action.actionId,
        icon: "⚡",
        help: `${action.description ?? ""}${action.effect === "none" ? " (no side effects)" : ""}`.trim(),
      });
      byCategory.set(category, group);
    }
    return [flow, steps, ...[...byCategory.values()].sort((a, b) => a.title.localeCompare(b.title))];
  }, [nodes, actions]);

  const needle = query.trim().toLowerCase();
  const shown = groups
    .map((group) => ({
      ...group,
      items: group.items.filter((item) => !needle || `${item.label} ${item.help} ${item.type}`.toLowerCase().includes(needle)),
    }))
    .filter((group) => group.items.length > 0);

  return (
    <aside className="palette" aria-label="Palette">
      <div className="palette-head">
        <div className="palette-title">
          <h3>Add a step</h3>
          {onHide && (
            <button type="button" className="icon-button palette-hide" onClick={onHide} aria-label="Hide the palette" title="Hide the palette">
              «
            </button>
          )}
        </div>
        {target ? (
          <div className="palette-target" role="status">
            Inserting {target}
            <button type="button" className="link-button" onClick={onCancel}>
              cancel
            </button>
          </div>
        ) : (
          <p className="hint">Click + on an arrow to choose where, or add after the selected step.</p>
        )}
        <input type="search" placeholder="Search steps and actions" aria-label="Search the palette" value={query} onChange={(e) => setQuery(e.target.value)} />
      </div>
      <div className="palette-list">
        {shown.map((group) => (
          <section key={group.title}>
            <h4>{group.title}</h4>
            {group.items.map((item) => (
              <button
                key={item.key}
                type="button"
                className="palette-item"
                title={item.help}
                data-testid={`palette-${item.key}`}
                onClick={() => onPick({ type: item.type, actionId: item.actionId, version: item.version, label: item.label })}
              >
                <span className="palette-icon" aria-hidden>
                  {item.icon}
                </span>
                <span className="palette-text">
                  <span className="palette-label">{item.label}</span>
                  {item.help && <span className="palette-help">{item.help}</span>}
                </span>
              </button>
            ))}
          </section>
        ))}
        {shown.length === 0 && <p className="hint">Nothing matches “{query}”.</p>}
      </div>
    </aside>
  );
}

/** The folded palette: one button that opens it, where the designer is narrow. */
export function PaletteRail({ onOpen }: { onOpen: () => void }) {
  return (
    <aside className="palette palette-rail" aria-label="Palette">
      <button type="button" className="rail-add" onClick={onOpen} aria-label="Add a step" title="Add a step (open the palette)">
        +
      </button>
    </aside>
  );
}
