import { describe, expect, it } from "vitest";
import { revealViewport } from "./reveal";

const margins = { top: 40, right: 20, bottom: 20, left: 20 };
const card = { x: 500, y: 100, width: 260, height: 68 };

describe("revealViewport", () => {
  it("leaves a step that is whole in sight where it is", () => {
    expect(revealViewport(card, { x: 0, y: 0, zoom: 1 }, 900, 600, margins)).toBeNull();
  });

  it("pans a step cut off at the right edge (behind the panel) just far enough in", () => {
    // the card spans 500..760 on screen; the canvas is 600 wide: 760 - 580 = 180 to the left
    expect(revealViewport(card, { x: 0, y: 0, zoom: 1 }, 600, 600, margins)).toEqual({ x: -180, y: 0, zoom: 1 });
  });

  it("pans a step above the top down below the legend's margin", () => {
    // the card's top is at 0 on screen; it goes to 40
    expect(revealViewport(card, { x: 0, y: -100, zoom: 1 }, 900, 600, margins)).toEqual({ x: 0, y: -60, zoom: 1 });
  });

  it("works in screen pixels at any zoom", () => {
    // at zoom 0.5 the card spans 250..380; a 300 wide canvas ends at 280: 100 to the left
    expect(revealViewport(card, { x: 0, y: 0, zoom: 0.5 }, 300, 600, margins)).toEqual({ x: -100, y: 0, zoom: 0.5 });
  });

  it("shows the start of a step wider than the canvas", () => {
    expect(revealViewport(card, { x: 0, y: 0, zoom: 1 }, 200, 600, margins)).toEqual({ x: 20 - 500, y: 0, zoom: 1 });
  });
});
