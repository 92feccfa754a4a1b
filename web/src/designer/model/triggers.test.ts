import { describe, expect, it } from "vitest";
import { CATCH_UP, windowHours, windowMs } from "./triggers";

describe("a schedule's catch-up window in hours", () => {
  it("writes hours as milliseconds and reads them back", () => {
    expect(windowMs("48")).toBe(172_800_000);
    expect(windowMs("1.5")).toBe(5_400_000);
    expect(windowHours(172_800_000)).toBe("48");
    expect(windowHours(5_400_000)).toBe("1.5");
  });

  it("is no window when blank; zero and negative hours are kept for validation to name", () => {
    expect(windowMs("  ")).toBeUndefined();
    expect(windowHours(undefined)).toBe("");
    expect(windowMs("0")).toBe(0);
    expect(windowMs("-2")).toBe(-7_200_000);
  });

  it("offers the three catch-up modes, the default first", () => {
    expect(CATCH_UP.map((option) => option.value)).toEqual(["latest", "all", "none"]);
  });
});
