// A "More" button whose menu holds the actions a narrow toolbar has no room for (as n8n's and
// Workflow Studio's toolbars do): each item keeps its label; the arrows move between items,
// Escape or a click elsewhere closes it.
import { useEffect, useRef, useState, type ReactNode } from "react";

export interface MoreItem {
  label: ReactNode;
  /** The item's accessible name when ``label`` is not plain text. */
  name: string;
  onSelect: () => void;
  disabled?: boolean;
  /** Shown as switched on (a panel that is open). */
  on?: boolean;
}

export function MoreMenu({ items, label = "More" }: { items: MoreItem[]; label?: string }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const away = (event: MouseEvent) => {
      if (!box.current?.contains(event.target as Node)) setOpen(false);
    };
    const escape = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        setOpen(false);
        box.current?.querySelector<HTMLButtonElement>(".more-button")?.focus();
      }
    };
    document.addEventListener("mousedown", away);
    document.addEventListener("keydown", escape);
    box.current?.querySelector<HTMLButtonElement>("[role=menuitem]:not(:disabled)")?.focus();
    return () => {
      document.removeEventListener("mousedown", away);
      document.removeEventListener("keydown", escape);
    };
  }, [open]);
  const on = items.some((item) => item.on);
  return (
    <div className="more" ref={box}>
      <button
        type="button"
        className={`btn btn-small more-button ${on ? "is-on" : ""}`}
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        {label} <span aria-hidden>▾</span>
      </button>
      {open && (
        <div
          className="more-menu"
          role="menu"
          aria-label={label}
          onKeyDown={(event) => {
            // arrows move between the items, as in any menu
            const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
            if (!step) return;
            event.preventDefault();
            const enabled = [...event.currentTarget.querySelectorAll<HTMLButtonElement>("[role=menuitem]:not(:disabled)")];
            const at = enabled.indexOf(document.activeElement as HTMLButtonElement);
            enabled[(at + step + enabled.length) % enabled.length]?.focus();
          }}
        >
          {items.map((item) => (
            <button
              key={item.name}
              type="button"
              role="menuitem"
              aria-label={item.name}
              className={`more-item ${item.on ? "is-on" : ""}`}
              disabled={item.disabled}
              onClick={() => {
                setOpen(false);
                item.onSelect();
              }}
            >
              {item.label}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
