// Form state for a part of the document whose form can be in between (a row being typed, a name
// taken twice, an empty expression): the form keeps it here and writes the document when
// ``write`` can make one; it follows the document again when that changes from elsewhere
// (undo, the JSON view).
import { useRef, useState } from "react";

export function useHeldForm<D, F>(doc: D, read: (doc: D) => F, write: (form: F, doc: D) => { value: D } | null, onChange: (doc: D) => void): [F, (form: F) => void] {
  const [form, setForm] = useState(() => read(doc));
  const [from, setFrom] = useState(doc);
  const emitted = useRef<{ value: D } | null>(null);
  if (doc !== from) {
    setFrom(doc);
    if (!emitted.current || doc !== emitted.current.value) setForm(read(doc));
  }
  const update = (next: F) => {
    setForm(next);
    const made = write(next, doc);
    if (made && JSON.stringify(made.value) !== JSON.stringify(doc)) {
      emitted.current = made;
      onChange(made.value);
    }
  };
  return [form, update];
}
