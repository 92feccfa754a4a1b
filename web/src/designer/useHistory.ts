// The edited draft with undo and redo: each change pushes the previous document.
import { useCallback, useReducer } from "react";
import type { Definition } from "../api/types";

interface History {
  past: Definition[];
  present: Definition | null;
  future: Definition[];
  /** Changes since the last save or load. */
  dirty: boolean;
}

type Action =
  | { kind: "load"; doc: Definition }
  | { kind: "change"; doc: Definition }
  | { kind: "undo" }
  | { kind: "redo" }
  | { kind: "saved" };

const LIMIT = 200;

function reduce(state: History, action: Action): History {
  switch (action.kind) {
    case "load":
      return { past: [], present: action.doc, future: [], dirty: false };
    case "change":
      if (state.present === null || action.doc === state.present) return state;
      return { past: [...state.past, state.present].slice(-LIMIT), present: action.doc, future: [], dirty: true };
    case "undo": {
      const previous = state.past[state.past.length - 1];
      if (!previous || state.present === null) return state;
      return { past: state.past.slice(0, -1), present: previous, future: [state.present, ...state.future], dirty: true };
    }
    case "redo": {
      const [next, ...rest] = state.future;
      if (!next || state.present === null) return state;
      return { past: [...state.past, state.present], present: next, future: rest, dirty: true };
    }
    case "saved":
      return { ...state, dirty: false };
  }
}

export function useHistory() {
  const [state, dispatch] = useReducer(reduce, { past: [], present: null, future: [], dirty: false });
  return {
    doc: state.present,
    dirty: state.dirty,
    canUndo: state.past.length > 0,
    canRedo: state.future.length > 0,
    load: useCallback((doc: Definition) => dispatch({ kind: "load", doc }), []),
    change: useCallback((doc: Definition) => dispatch({ kind: "change", doc }), []),
    undo: useCallback(() => dispatch({ kind: "undo" }), []),
    redo: useCallback(() => dispatch({ kind: "redo" }), []),
    markSaved: useCallback(() => dispatch({ kind: "saved" }), []),
  };
}
