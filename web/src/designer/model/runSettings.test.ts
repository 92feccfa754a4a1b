import { describe, expect, it } from "vitest";
import { keptSettings, pointerProblem, pointerSuggestions, runSettingsForm, settingsOf } from "./runSettings";

describe("redaction pointers", () => {
  it("are checked as the server's parse_pointer checks them", () => {
    for (const good of ["/payload/email", "/vars/customer/ssn", "/meta/x", "/payload/a~1b", "/payload/a~0b/c", "/payload/"]) expect(pointerProblem(good)).toBeNull();
    expect(pointerProblem("payload/email")).toMatch(/starts with/);
    expect(pointerProblem("")).toMatch(/starts with/);
    expect(pointerProblem("/payload/a~2")).toMatch(/~0/);
    expect(pointerProblem("/payload/a~")).toMatch(/~0/);
    expect(pointerProblem("/payload")).toMatch(/inside the run/);
    expect(pointerProblem("/steps/x")).toMatch(/inside the run/);
  });

  it("are offered from the payload schema's fields and the saved vars", () => {
    const schema = { type: "object", properties: { email: { type: "string" }, card: { type: "object", properties: { number: {} } }, "a/b": {} } };
    expect(pointerSuggestions(schema, ["payload.email", "vars.customer", "meta.state"])).toEqual(["/payload/email", "/payload/card", "/payload/card/number", "/payload/a~1b", "/vars/customer"]);
  });
});

describe("run settings as a form", () => {
  it("round-trips, keeping keys the form does not know", () => {
    const settings = { concurrencyKey: { $expr: "payload.threadId" }, redact: ["/payload/card"], retention: { days: 3 } };
    const form = runSettingsForm(settings)!;
    expect(form).toEqual({ concurrencyKey: { $expr: "payload.threadId" }, redact: ["/payload/card"] });
    expect(settingsOf(form, settings)).toEqual(settings);
    expect(keptSettings(settings)).toEqual([["retention", { days: 3 }]]);
    expect(settingsOf({ concurrencyKey: undefined, redact: [] }, settings)).toEqual({ retention: { days: 3 } });
    expect(settingsOf({ concurrencyKey: "tenant-a", redact: [] }, undefined)).toEqual({ concurrencyKey: "tenant-a" });
  });

  it("leaves out what is empty, and is no settings at all when nothing is left", () => {
    expect(runSettingsForm(undefined)).toEqual({ concurrencyKey: undefined, redact: [] });
    const form = { concurrencyKey: { $expr: "  " }, redact: ["", ""] };
    expect(settingsOf(form, { concurrencyKey: "x", redact: ["/payload/a"] })).toBeUndefined();
    expect(settingsOf({ concurrencyKey: "", redact: ["/payload/a", ""] }, {})).toEqual({ redact: ["/payload/a"] });
  });

  it("gives settings it cannot show to the JSON view", () => {
    expect(runSettingsForm({ concurrencyKey: 42 })).toBeNull();
    expect(runSettingsForm({ redact: "/payload/a" })).toBeNull();
    expect(runSettingsForm({ redact: [1] })).toBeNull();
    expect(runSettingsForm([])).toBeNull();
  });
});
