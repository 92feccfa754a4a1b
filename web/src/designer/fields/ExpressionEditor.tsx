// A JSONata expression field (CodeMirror 6): checked by the server as you type (debounced
// POST /api/expressions/validate, the error underlined at its position and said in words), and
// completion of the payload./vars./meta. paths the workflow knows.
import { autocompletion, closeBrackets, type CompletionContext } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { linter, lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, placeholder as placeholderText } from "@codemirror/view";
import { useEffect, useRef, useState } from "react";
import { api } from "../../api/client";
import type { ExpressionCheck } from "../../api/types";

export const VALIDATE_DELAY_MS = 350;

export function completionsFor(paths: string[], before: string): { from: number; options: string[] } | null {
  const match = /[A-Za-z_$][\w.$]*$/.exec(before);
  if (!match) return null;
  const word = match[0];
  const options = paths.filter((path) => path.startsWith(word) && path !== word);
  return options.length ? { from: before.length - word.length, options } : null;
}

export function ExpressionEditor({
  id,
  value,
  onChange,
  paths,
  readOnly = false,
  placeholder = "e.g. payload.contact.email",
  onValidity,
}: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  paths: string[];
  readOnly?: boolean;
  placeholder?: string;
  onValidity?: (valid: boolean) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const pathsRef = useRef(paths);
  pathsRef.current = paths;
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  useEffect(() => {
    const complete = (context: CompletionContext) => {
      const line = context.state.doc.lineAt(context.pos);
      const found = completionsFor(pathsRef.current, line.text.slice(0, context.pos - line.from));
      if (!found) return null;
      return {
        from: line.from + found.from,
        options: found.options.map((label) => ({ label, type: label.startsWith("payload") ? "property" : "variable" })),
      };
    };
    const created = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          history(),
          closeBrackets(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          autocompletion({ override: [complete], activateOnTyping: true }),
          linter(null),
          lintGutter(),
          placeholderText(placeholder),
          EditorView.lineWrapping,
          EditorState.readOnly.of(readOnly),
          EditorView.editable.of(!readOnly),
          EditorView.contentAttributes.of({ "aria-label": "Expression", id, "data-testid": `expr-${id}` }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) onChangeRef.current(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = created;
    return () => created.destroy();
    // the editor is created once; value changes from outside are applied below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, readOnly]);

  useEffect(() => {
    const current = view.current;
    if (current && current.state.doc.toString() !== value) {
      current.dispatch({ changes: { from: 0, to: current.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    if (value.trim() === "") {
      setError(null);
      return;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(async () => {
      setChecking(true);
      try {
        const result = await api.post<ExpressionCheck>("/expressions/validate", { expression: value }, { signal: controller.signal });
        const first = result.errors[0];
        setError(result.valid || !first ? null : first.message);
        onValidity?.(result.valid);
        const current = view.current;
        if (current) {
          const length = current.state.doc.length;
          const diagnostics: Diagnostic[] = result.errors.map((problem) => {
            const at = Math.min(Math.max(problem.position ?? 0, 0), length);
            const from = Math.max(0, Math.min(at, length - 1));
            return { from, to: Math.min(length, from + Math.max(1, problem.token?.length ?? 1)), severity: "error", message: problem.message };
          });
          current.dispatch(setDiagnostics(current.state, diagnostics));
        }
      } catch {
        // a failed check says nothing about the expression; the next keystroke tries again
      } finally {
        setChecking(false);
      }
    }, VALIDATE_DELAY_MS);
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);

  return (
    <div className={`expr ${error ? "expr-invalid" : ""}`}>
      <div className="expr-box" ref={host} />
      <div className="expr-status" aria-live="polite">
        {error ? (
          <span className="expr-error" role="alert" data-testid="expression-error">
            This expression has a problem: {error}
          </span>
        ) : checking ? (
          <span className="muted">checking…</span>
        ) : null}
      </div>
    </div>
  );
}
