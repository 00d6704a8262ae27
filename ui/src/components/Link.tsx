import type { MouseEvent, ReactNode } from 'react';
import { navigate } from '../router.ts';
import { safeHref } from '../safe-link.ts';

/** An in-app link: a real <a href> (open in a new tab works), navigating without a reload. */
export function Link(props: {
  readonly to: string;
  readonly children: ReactNode;
  readonly className?: string;
  readonly current?: boolean;
}) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.to);
  };
  return (
    <a
      href={props.to}
      onClick={onClick}
      className={props.className}
      aria-current={props.current === true ? 'page' : undefined}
    >
      {props.children}
    </a>
  );
}

/**
 * A link to somewhere outside, from data the UI does not control: rendered as a link only when its URL
 * is http(s); otherwise the text itself, inert (never a javascript: or data: href).
 */
export function ExternalLink(props: { readonly url: string; readonly label?: string }) {
  const href = safeHref(props.url);
  if (href === undefined)
    return (
      <span className="inert-url" title="not a web link: shown as text">
        {props.label === undefined ? props.url : `${props.label}: ${props.url}`}
      </span>
    );
  return (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow">
      {props.label ?? props.url}
    </a>
  );
}
