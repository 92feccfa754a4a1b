// The width of an element, kept current with a ResizeObserver: for layouts that change with
// the room they get (the designer's toolbar and palette), not with the window alone. A callback
// ref, so an element that appears later (after loading) is measured too.
import { useCallback, useEffect, useRef, useState } from "react";

export function useWidth(): [(element: HTMLElement | null) => void, number | null] {
  const [width, setWidth] = useState<number | null>(null);
  const observer = useRef<ResizeObserver | null>(null);
  const ref = useCallback((element: HTMLElement | null) => {
    observer.current?.disconnect();
    observer.current = null;
    if (!element) return;
    setWidth(element.getBoundingClientRect().width);
    observer.current = new ResizeObserver(() => setWidth(element.getBoundingClientRect().width));
    observer.current.observe(element);
  }, []);
  useEffect(() => () => observer.current?.disconnect(), []);
  return [ref, width];
}
