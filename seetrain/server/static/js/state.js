// What the `seetrain ui` watcher knows about gaps in the run directories (GET /api/v1/ui/state),
// turned into the notes a run page shows. Under `seetrain server` the endpoint is absent: no notes.
import {get} from "./api.js";
import {fmtTime} from "./util.js";

let cache = null, cacheAt = 0;

export async function uiState() {
  if (cache && performance.now() - cacheAt < 900) return cache;
  try { cache = await get("/ui/state"); } catch (e) { cache = {runs: {}}; }
  cacheAt = performance.now();
  return cache;
}

/** Notes about what is missing from a run: vanished process, torn tail, corrupt lines, lost records, gone directory. */
export function problemsOf(run, state, events) {
  const notes = [];
  const s = (state.runs || {})[run.uuid] || {};
  if (run.vanished) notes.push({kind: "vanished", text: `The training process stopped without finishing: no heartbeat since ${fmtTime(run.heartbeat || run.end_time)}. The run is shown as crashed with everything it wrote.`});
  if (s.missing) notes.push({kind: "missing", text: `The run directory ${s.path} is gone from the log folder; this is the copy in the dashboard's index.`});
  if (s.torn_bytes) notes.push({kind: "torn", text: `records.jsonl ends with an incomplete line (${s.torn_bytes} bytes${run.status === "running" ? ", still being written?" : ": the writer stopped mid-line"}); everything before it is shown.`});
  if (s.corrupt) notes.push({kind: "corrupt", text: `${s.corrupt} damaged line(s) in records.jsonl were skipped.`});
  if (s.rejected) notes.push({kind: "rejected", text: `${s.rejected} record(s) could not be indexed and are not shown (${s.rejected_reason}).`});
  if (s.missing_media) notes.push({kind: "media", text: `${s.missing_media} media file(s) referenced by records are missing from media/.`});
  if (s.error) notes.push({kind: "error", text: `The run directory could not be read: ${s.error}`});
  for (const ev of events.filter((e) => e.event === "exception")) {
    notes.push({kind: "exception", text: `The run raised ${ev.exc_type}: ${ev.message} (traceback under events).`});
  }
  const n = events.filter((e) => e.event === "lost").reduce((a, ev) => a + (ev.count || 0), 0);
  if (n) notes.push({kind: "lost", text: `${n} record(s) were lost to write errors while training (see events).`});
  return notes;
}
