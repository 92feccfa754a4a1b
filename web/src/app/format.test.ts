import { describe, expect, it } from "vitest";
import { dateTime, plural, relativeTime, zoneName } from "./format";

describe("relativeTime", () => {
  const now = new Date("2026-12-06T10:00:00Z");
  it("says just now for the last seconds", () => {
    expect(relativeTime("2026-12-06T09:59:50Z", now)).toBe("just now");
  });
  it("counts minutes, hours and days", () => {
    expect(relativeTime("2026-12-06T09:50:00Z", now)).toBe("10 min ago");
    expect(relativeTime("2026-12-06T07:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime("2026-12-01T10:00:00Z", now)).toBe("5 d ago");
  });
  it("is empty for no date", () => {
    expect(relativeTime(null, now)).toBe("");
  });
});

describe("plural", () => {
  it("uses the singular for one", () => {
    expect(plural(1, "run")).toBe("1 run");
    expect(plural(3, "run")).toBe("3 runs");
  });
});

describe("dateTime", () => {
  it("shows the moment in the viewer's zone and names the zone", () => {
    const berlin = dateTime("2026-12-06T10:00:05Z", "Europe/Berlin");
    expect(berlin).toMatch(/11:00:05/);
    expect(berlin).toMatch(/GMT\+1|CET/);
    const utc = dateTime("2026-12-06T10:00:05Z", "UTC");
    expect(utc).toMatch(/10:00:05/);
    expect(utc).toMatch(/UTC/);
  });
  it("is empty for no date or a date that is not one", () => {
    expect(dateTime(null)).toBe("");
    expect(dateTime("yesterday")).toBe("");
  });
});

describe("zoneName", () => {
  it("names the zone in summer and in winter", () => {
    expect(zoneName(new Date("2026-12-06T10:00:00Z"), "Europe/Berlin")).toMatch(/GMT\+1|CET/);
    expect(zoneName(new Date("2026-07-06T10:00:00Z"), "Europe/Berlin")).toMatch(/GMT\+2|CEST/);
    expect(zoneName(new Date("2026-07-06T10:00:00Z"), "UTC")).toBe("UTC");
  });
});
