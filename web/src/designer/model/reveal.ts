// Keeping a step in sight: the viewport that shows a box (a step, in canvas units) whole inside
// the canvas's visible area - so a selected or just-dropped step never stays cut off at the
// canvas's edge, behind the side panel. The smallest pan that does it; the zoom is kept.

export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** One axis: how far to move a span [start, end) (screen pixels) into [low, high]. A span that
 * does not fit is aligned to ``low`` (its start - where a card's name is - is what shows). */
function shift(start: number, end: number, low: number, high: number): number {
  if (end - start > high - low) return low - start;
  if (start < low) return low - start;
  if (end > high) return high - end;
  return 0;
}

/** The viewport showing ``box`` whole in a ``width``×``height`` canvas within ``margins``, or
 * null when it already shows so. */
export function revealViewport(box: Rect, view: Viewport, width: number, height: number, margins: Margins): Viewport | null {
  const left = box.x * view.zoom + view.x;
  const top = box.y * view.zoom + view.y;
  const dx = shift(left, left + box.width * view.zoom, margins.left, width - margins.right);
  const dy = shift(top, top + box.height * view.zoom, margins.top, height - margins.bottom);
  if (Math.abs(dx) < 0.5 && Math.abs(dy) < 0.5) return null;
  return { x: view.x + dx, y: view.y + dy, zoom: view.zoom };
}
