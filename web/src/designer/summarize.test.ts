import { describe, expect, it } from "vitest";
import { summarize, summaryParts } from "./steps";

describe("summarize", () => {
  it("shows a human task whose title is an expression as the expression, not [object Object]", () => {
    const step = { id: "ask", type: "human.task", config: { title: { $expr: "'Check ' & payload.name" } } };
    expect(summarize(step)).not.toContain("[object Object]");
    expect(summarize(step)).toContain("payload.name");
    expect(summarize({ id: "t", type: "human.task", config: { title: "Approve?" } })).toContain("Approve?");
  });
});

describe("summaryParts", () => {
  it("keeps an action's version and a called workflow's version apart from what may be shortened", () => {
    const call = { id: "c", type: "action.call", config: { actionId: "journeys.update_contact_preferences", version: 2 } };
    expect(summaryParts(call)).toEqual(["journeys.update_contact_preferences", " v2"]);
    expect(summaryParts(call).join("")).toBe(summarize(call));
    const sub = { id: "w", type: "control.callWorkflow", workflowKey: "billing-reminders" };
    expect(summaryParts(sub).join("")).toBe(summarize(sub));
    expect(summaryParts(sub)[1]).toBe(" (latest)");
  });

  it("leaves other steps whole in the first part", () => {
    const state = { id: "s", type: "state.set", config: { state: "WAITING_FOR_A_VERY_LONG_APPROVAL" } };
    expect(summaryParts(state)).toEqual(["WAITING_FOR_A_VERY_LONG_APPROVAL", ""]);
  });
});
