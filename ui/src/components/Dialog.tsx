// A modal dialog on the native <dialog>: focus stays inside, Escape closes, focus returns after.
import { useEffect, useRef, type ReactNode } from 'react';

export function Dialog(props: {
  readonly title: string;
  readonly onClose: () => void;
  readonly children: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement as HTMLElement | null;
    dialog?.showModal();
    return () => {
      dialog?.close();
      opener?.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <h2 id="dialog-title">{props.title}</h2>
      {props.children}
    </dialog>
  );
}

/** A button for an action the caller may not be allowed: disabled with the reason beside it. */
export function ActionButton(props: {
  readonly label: string;
  /** A form's submit button has no handler of its own: the form's onSubmit acts. */
  readonly onClick?: () => void;
  readonly type?: 'button' | 'submit';
  readonly denied?: string | undefined;
  readonly busy?: boolean;
  readonly primary?: boolean;
  readonly id?: string;
}) {
  const reasonId = props.id === undefined ? undefined : `${props.id}-reason`;
  return (
    <span className="action">
      <button
        type={props.type ?? 'button'}
        id={props.id}
        className={props.primary === true ? 'primary' : undefined}
        disabled={props.denied !== undefined || props.busy === true}
        aria-describedby={props.denied === undefined ? undefined : reasonId}
        title={props.denied}
        onClick={props.onClick}
      >
        {props.busy === true ? `${props.label}…` : props.label}
      </button>
      {props.denied === undefined ? null : (
        <span className="reason" id={reasonId}>
          {props.denied}
        </span>
      )}
    </span>
  );
}
