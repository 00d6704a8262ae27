// A box that scrolls a wide table sideways on a narrow screen. A table of text only (no link or button
// to focus) could not be scrolled from the keyboard: the box itself takes the focus (Tab, then the
// arrow keys scroll it) and is a region named after its table.
import type { ReactNode } from 'react';

export function TableScroll(props: { readonly label: string; readonly children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}
