import { createContext, useContext } from 'react';
import type { Grants } from './permissions.ts';

export interface SessionContextValue extends Grants {
  readonly logout: () => void;
}

export const SessionContext = createContext<SessionContextValue | undefined>(undefined);

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside of a logged-in page');
  return value;
}
