// The push topic on which the cases module announces case changes of the clerk's centre
// (docs/cases.md: the outbox handler publishes every case.<action> on the scope topic of the
// case's organisation).
import { useSessionStore } from '../../shared/session.js';

/** The topics to subscribe to for the case lists of the signed-in user (may be empty). */
export async function caseTopics() {
  const s = useSessionStore();
  const path = s.user?.scope?.path;
  return path ? [`scope:${path}:cases`] : [];
}
