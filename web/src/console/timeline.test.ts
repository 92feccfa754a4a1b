import { describe, expect, it } from "vitest";
import type { HistoryItem } from "../api/console";
import { allSteps, buildTimeline, describeScope, stepMarks } from "./timeline";

function row(token: string, status = "succeeded"): HistoryItem {
  const stepId = token.split("/").pop() ?? token;
  return {
    stepId,
    token,
    type: "state.set",
    version: 1,
    attempt: 1,
    status,
    at: "2026-12-06T09:00:00Z",
    startedAt: null,
    durationMs: null,
    recordedAt: "2026-12-06T09:00:00Z",
    input: null,
    output: null,
    error: null,
    detail: null,
  };
}

describe("timeline", () => {
  it("nests rows under loop items and branches in the order first seen", () => {
    const entries = buildTimeline([
      row("start"),
      row("items[0]/notify"),
      row("items[1]/notify"),
      row("items[0]/fan:left/wait"),
      row("items"),
    ]);
    expect(entries.map((e) => (e.kind === "row" ? e.item.token : e.label))).toEqual([
      "start",
      "items · item 1",
      "items · item 2",
      "items",
    ]);
    const first = entries[1];
    if (first?.kind !== "group") throw new Error("expected a group");
    expect(first.entries.map((e) => (e.kind === "row" ? e.item.stepId : e.label))).toEqual([
      "notify",
      "fan · branch left",
    ]);
  });

  it("describes scopes in words", () => {
    expect(describeScope("loop[4]")).toBe("loop · item 5");
    expect(describeScope("fan:b")).toBe("fan · branch b");
  });

  it("marks the path: failed, done, and where the run is now", () => {
    const marks = stepMarks([row("a"), row("b", "failed"), row("c", "retrying")], ["d"]);
    expect(marks).toEqual({ a: "done", b: "failed", c: "retrying", d: "current" });
  });

  it("lists every step of nested pipelines in document order", () => {
    const definition = {
      key: "k",
      steps: [
        { id: "if", type: "control.if", then: [{ id: "x", type: "state.set" }], else: [{ id: "y", type: "state.set" }] },
        { id: "each", type: "control.forEach", body: [{ id: "z", type: "state.set" }] },
      ],
    };
    expect(allSteps(definition).map((s) => s.id)).toEqual(["if", "x", "y", "each", "z"]);
  });
});
