import { describe, expect, it } from "vitest";
import { plural, relativeTime } from "./format";

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
