import { describe, expect, it } from "vitest";
import { summarize } from "../steps";
import { filterOrNone, isCondition, waitFilterPaths } from "./filters";

const wait = (config: Record<string, unknown>) => ({ id: "w", type: "event.wait", config }) as never;

describe("an event.wait's filter", () => {
  it("offers the event's fields first, then the run's, once each", () => {
    expect(waitFilterPaths(["payload", "payload.kind", "vars", "event.key"])).toEqual(["event.payload", "event.key", "event.name", "event.id", "event.receivedAt", "payload", "payload.kind", "vars"]);
  });

  it("is the rules as the builder left them, or none when no rule names a field", () => {
    const rule = { field: "event.payload.kind", op: "equals" as const, value: "open" };
    expect(filterOrNone(rule)).toEqual(rule);
    expect(filterOrNone({ all: [{ field: "", op: "equals", value: "" }] })).toBeUndefined();
    expect(isCondition("event.payload.kind = 'open'")).toBe(false);
  });

  it("is said on the card: rules on the event's payload without event.payload., the run's as written", () => {
    expect(summarize(wait({ eventName: "ticket.updated" }))).toBe("until “ticket.updated”");
    expect(summarize(wait({ eventName: "ticket.updated", filter: { field: "event.payload.kind", op: "equals", value: "open" } }))).toBe("until “ticket.updated” when kind = \"open\"");
    expect(summarize(wait({ eventName: "ticket.updated", filter: { any: [{ field: "event.payload.total", op: "greaterThan", value: { $expr: "vars.limit" } }, { field: "payload.vip", op: "exists" }] } }))).toBe(
      "until “ticket.updated” when total > ƒ vars.limit or payload.vip exists",
    );
    expect(summarize(wait({ eventName: "ticket.updated", filter: "event.payload.kind = 'open'" }))).toBe("until “ticket.updated” when ƒ event.payload.kind = 'open'");
    expect(summarize(wait({ eventName: "ticket.updated", filter: { $expr: "event.key = payload.id" } }))).toBe("until “ticket.updated” when ƒ event.key = payload.id");
    expect(summarize(wait({ eventName: "ticket.updated", filter: 5 }))).toBe("until “ticket.updated”");
  });
});
