// Whose turn a store call is taken on when the caller cannot pass it down: an API request runs its handler inside
// `apiCaller.run(userID, …)`, and the embedded directory's calls read it, so one user's requests queue on their own
// lane of the store thread (its fair turns and per-lane bound) instead of everyone's.
import { AsyncLocalStorage } from "node:async_hooks";

export const apiCaller = new AsyncLocalStorage<string>();
